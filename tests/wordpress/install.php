<?php
/*
 * Installs WordPress non-interactively for tests/t/85-wordpress.t (wp-cli is
 * not in Debian 12): wp_install() from a php-cli run of wp-load.php.
 * Usage: php install.php WP_ROOT ADMIN_PASSWORD
 */
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$r = wp_install('chatgate test site', 'admin', 'admin@example.test', false, '',
                wp_slash($argv[2]));
echo json_encode(['user_id' => $r['user_id']]), "\n";
