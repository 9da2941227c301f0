<?php
/*
 * What tests/t/85-wordpress.t asks WordPress itself, after the browser run:
 * the block and its editor script are registered (WordPress 6.1 silently
 * drops a block.json script without its .asset.php), the shortcode is, and
 * uninstalling the plugin leaves none of its options behind.
 * Usage: php check.php WP_ROOT   Prints JSON.
 */
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

global $wpdb;
$options = fn() => $wpdb->get_col("SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE 'chatgate%'");
$block = WP_Block_Type_Registry::get_instance()->get_registered('chatgate/chat');
$handles = $block ? $block->editor_script_handles : [];
$out = [
    'block' => (bool) $block,
    'dynamic' => $block ? $block->is_dynamic() : false,
    'editor_script' => $handles ? wp_scripts()->registered[$handles[0]]->src : '',
    'editor_deps' => $handles ? wp_scripts()->registered[$handles[0]]->deps : [],
    'shortcode' => shortcode_exists('chatgate'),
    'options_before' => $options(),
];
// With a German translation installed where WordPress looks for plugin
// translations, the box speaks German (the test compiles one string).
$german = fn() => 'de_DE';
add_filter('locale', $german);
unload_textdomain('chatgate');
chatgate_load_textdomain();
wp_set_current_user(0);
$out['box_de'] = chatgate_render_box();
remove_filter('locale', $german);
unload_textdomain('chatgate');
chatgate_load_textdomain();
$out['box_en'] = chatgate_render_box();
deactivate_plugins('chatgate/chatgate.php');
uninstall_plugin('chatgate/chatgate.php');
$out['options_after'] = $options();
echo json_encode($out), "\n";
