<?php
/**
 * Plugin Name:       chatgate
 * Plugin URI:        https://github.com/chatgate/chatgate
 * Description:       Safe AI chat for logged-in users through chatgate: the provider key stays in chatgate, WordPress only signs who the user is.
 * Version:           1.0.0
 * Requires at least: 6.1
 * Requires PHP:      8.0
 * Author:            chatgate
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       chatgate
 * Domain Path:       /languages
 *
 * What this plugin does: for a logged-in user who may chat, it sets
 * chatgate's session cookie (a v2 token signed with the key in the file
 * named by CHATGATE_SECRET_FILE in wp-config.php), and renders a chat box
 * (shortcode [chatgate] or the "chatgate chat" block) that talks to
 * chatgate's chat path on this same site.
 *
 * What it never does: hold, store or print a provider key or the signing
 * secret. Neither goes into the database or an admin screen; the secret is
 * read from its file on the request that signs and is used only for the
 * HMAC.
 *
 * @package chatgate
 */

defined( 'ABSPATH' ) || exit;

define( 'CHATGATE_VERSION', '1.0.0' );
define( 'CHATGATE_PLUGIN_FILE', __FILE__ );
define( 'CHATGATE_PLUGIN_DIR', __DIR__ );

require_once __DIR__ . '/includes/options.php';
require_once __DIR__ . '/includes/token.php';
require_once __DIR__ . '/includes/session.php';
require_once __DIR__ . '/includes/box.php';
if ( is_admin() ) {
	require_once __DIR__ . '/includes/admin.php';
}

add_action( 'plugins_loaded', 'chatgate_load_textdomain' );

/**
 * Loads the plugin's translations (languages/chatgate-LOCALE.mo).
 */
function chatgate_load_textdomain(): void {
	load_plugin_textdomain( 'chatgate', false, dirname( plugin_basename( __FILE__ ) ) . '/languages' );
}
