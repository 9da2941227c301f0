<?php
/*
 * What tests/t/85-wordpress.t asks WordPress itself, after the browser run:
 * the plugin mints exactly the token `chatgate mint` does; the settings
 * page's token check tells a wrong key from the right one; the block and its
 * editor script are registered (WordPress 6.1 silently drops a block.json
 * script without its .asset.php), and so is the shortcode; the box's words
 * are translated; uninstalling leaves none of the plugin's options behind.
 * Usage: php check.php WP_ROOT CHATGATE_TOKEN   Prints JSON.
 */
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
require_once WP_PLUGIN_DIR . '/chatgate/includes/admin.php';

global $wpdb;
$options = fn() => $wpdb->get_col("SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE 'chatgate%'");
$block = WP_Block_Type_Registry::get_instance()->get_registered('chatgate/chat');
$handles = $block ? $block->editor_script_handles : [];
// The token chatgate itself minted (chatgate mint), minted again by the
// plugin with the same user, kid and expiry: byte for byte the same.
$key = chatgate_signing_key();
[, $kid, $user, $exp] = explode('.', $argv[2]);
$user = base64_decode(strtr($user, '-_', '+/'));
$out = [
    'mint_same' => !is_wp_error($key) && $key['kid'] === $kid
        && chatgate_mint($user, $kid, $key['secret'], (int) $exp) === $argv[2],
    // The settings page's check, with the right key and with a wrong one.
    'self_check_right' => chatgate_self_check($key),
    'self_check_wrong' => chatgate_self_check(['kid' => 'wp1', 'secret' => str_repeat('0', 64)]),
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
