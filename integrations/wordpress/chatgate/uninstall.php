<?php
/**
 * Removes everything the plugin stored: its options (the signing secret and
 * the provider key were never stored). Runs only when WordPress uninstalls
 * the plugin.
 *
 * @package chatgate
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

require_once __DIR__ . '/includes/options.php';

foreach ( CHATGATE_OPTIONS as $chatgate_option ) {
	delete_option( $chatgate_option );
	delete_site_option( $chatgate_option );
}
