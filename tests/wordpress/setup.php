<?php
/*
 * Sets up the installed test site for tests/t/85-wordpress.t as an admin
 * would: activates the chatgate plugin, creates an editor and a subscriber,
 * a page with the shortcode and one with the block, and the plugin's
 * settings (only editors may chat; the status page over loopback).
 * Usage: php setup.php WP_ROOT STATUS_URL EDITOR_PW SUBSCRIBER_PW
 * Prints the ids as JSON.
 */
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
[, $root, $status, $editor_pw, $subscriber_pw] = $argv;
require $root . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

$act = activate_plugin('chatgate/chatgate.php');
if (is_wp_error($act)) {
    fwrite(STDERR, 'activate: ' . $act->get_error_message() . "\n");
    exit(1);
}
$ids = [];
foreach ([['editor', $editor_pw, 'editor'], ['subscriber', $subscriber_pw, 'subscriber']] as [$login, $pw, $role]) {
    $id = wp_insert_user(['user_login' => $login, 'user_pass' => $pw, 'role' => $role,
                          'user_email' => "$login@example.test"]);
    if (is_wp_error($id)) {
        fwrite(STDERR, "user $login: " . $id->get_error_message() . "\n");
        exit(1);
    }
    $ids[$login] = $id;
}
wp_set_current_user(1);
$ids['page'] = wp_insert_post(['post_type' => 'page', 'post_status' => 'publish',
    'post_title' => 'Chat', 'post_content' => "<p>Ask us anything.</p>\n[chatgate]"], true);
$ids['block_page'] = wp_insert_post(['post_type' => 'page', 'post_status' => 'publish',
    'post_title' => 'Block chat', 'post_content' => '<!-- wp:chatgate/chat /-->'], true);
// Avatars come from gravatar.com: this site talks to no other host.
update_option('show_avatars', 0);
update_option('chatgate_who', 'capability');
update_option('chatgate_capability', 'edit_posts');
update_option('chatgate_status_url', $status);
echo json_encode($ids), "\n";
