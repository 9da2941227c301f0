<?php
/**
 * The plugin's settings: the non-secret parts only (chat path, cookie name,
 * who may chat, where chatgate's status page is). Secrets never come from
 * here: see token.php.
 *
 * @package chatgate
 */

defined( 'ABSPATH' ) || exit;

/** Every option the plugin stores (uninstall.php removes exactly these). */
const CHATGATE_OPTIONS = array(
	'chatgate_chat_path',
	'chatgate_cookie_name',
	'chatgate_who',
	'chatgate_capability',
	'chatgate_status_url',
);

/**
 * Defaults: chatgate's own ([server] chat_path, [session] cookie).
 *
 * @return array<string,string>
 */
function chatgate_defaults(): array {
	return array(
		'chatgate_chat_path'   => '/api/chat',
		'chatgate_cookie_name' => 'chatgate_session',
		'chatgate_who'         => 'all',
		'chatgate_capability'  => 'edit_posts',
		'chatgate_status_url'  => '',
	);
}

/**
 * One setting, falling back to its default when unset or invalid.
 *
 * @param string $name Option name (one of CHATGATE_OPTIONS).
 */
function chatgate_option( string $name ): string {
	$defaults = chatgate_defaults();
	$value    = get_option( $name, $defaults[ $name ] ?? '' );
	if ( ! is_string( $value ) ) {
		return $defaults[ $name ] ?? '';
	}
	return $value;
}

/**
 * Sanitizes a chat path: an absolute URL path without query, like chatgate's
 * [server] chat_path. Invalid input keeps the default.
 *
 * @param mixed $value Submitted value.
 */
function chatgate_sanitize_path( $value ): string {
	$value = is_string( $value ) ? trim( $value ) : '';
	if ( ! preg_match( '#^/[A-Za-z0-9._~/-]{0,200}$#', $value ) || str_contains( $value, '..' ) ) {
		return chatgate_defaults()['chatgate_chat_path'];
	}
	return $value;
}

/**
 * Sanitizes a cookie name (RFC 6265 token characters, a safe subset).
 *
 * @param mixed $value Submitted value.
 */
function chatgate_sanitize_cookie_name( $value ): string {
	$value = is_string( $value ) ? trim( $value ) : '';
	if ( ! preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $value ) ) {
		return chatgate_defaults()['chatgate_cookie_name'];
	}
	return $value;
}

/**
 * Sanitizes "who may chat": all logged-in users, or those with a capability.
 *
 * @param mixed $value Submitted value.
 */
function chatgate_sanitize_who( $value ): string {
	return 'capability' === $value ? 'capability' : 'all';
}

/**
 * Sanitizes a capability or role name.
 *
 * @param mixed $value Submitted value.
 */
function chatgate_sanitize_capability( $value ): string {
	$value = is_string( $value ) ? sanitize_key( $value ) : '';
	return '' === $value ? chatgate_defaults()['chatgate_capability'] : $value;
}

/**
 * Sanitizes the status page URL: it is fetched server-side, so only a
 * loopback http(s) URL is accepted (the plugin must not become a way to make
 * the server fetch other hosts).
 *
 * @param mixed $value Submitted value.
 */
function chatgate_sanitize_status_url( $value ): string {
	$value = is_string( $value ) ? trim( $value ) : '';
	if ( '' === $value ) {
		return '';
	}
	return chatgate_loopback_url( $value ) ? esc_url_raw( $value, array( 'http', 'https' ) ) : '';
}

/**
 * Whether $url is http(s) to 127.0.0.1, [::1] or localhost.
 *
 * @param string $url URL to check.
 */
function chatgate_loopback_url( string $url ): bool {
	$parts = wp_parse_url( $url );
	if ( ! is_array( $parts ) || ! isset( $parts['scheme'], $parts['host'] ) ) {
		return false;
	}
	if ( ! in_array( strtolower( $parts['scheme'] ), array( 'http', 'https' ), true ) ) {
		return false;
	}
	if ( isset( $parts['user'] ) || isset( $parts['pass'] ) ) {
		return false;
	}
	return in_array( strtolower( $parts['host'] ), array( '127.0.0.1', '[::1]', '::1', 'localhost' ), true );
}
