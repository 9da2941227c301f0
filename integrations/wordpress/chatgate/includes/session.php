<?php
/**
 * The chatgate session cookie for WordPress users.
 *
 * A logged-in user who may chat gets the cookie on every page WordPress
 * builds for them and whenever WordPress issues its own login cookie; it is
 * cleared on logout, on a password change (WordPress re-issues its cookies
 * then, and the new token follows), when the user may no longer chat, and
 * when the browser comes back with a WordPress login cookie that is no longer
 * valid. The token expires when the WordPress session does.
 *
 * The cookie is HttpOnly (page scripts never see it), SameSite=Strict,
 * Secure on HTTPS, and its path is chatgate's chat path, so no other URL of
 * the site receives it.
 *
 * @package chatgate
 */

defined( 'ABSPATH' ) || exit;

add_action( 'init', 'chatgate_session_refresh', 20 );
add_action( 'set_logged_in_cookie', 'chatgate_session_on_login', 10, 6 );
add_action( 'clear_auth_cookie', 'chatgate_session_clear' );

/**
 * chatgate's user id for a WordPress user: "wp:<ID>", stable for the life
 * of the account.
 *
 * @param WP_User $user The user.
 */
function chatgate_user_id( WP_User $user ): string {
	/**
	 * Filters the chatgate user id of a WordPress user (1-128 of
	 * [A-Za-z0-9._@+:-]; an invalid value falls back to "wp:<ID>").
	 *
	 * @param string  $id   Default "wp:<ID>".
	 * @param WP_User $user The user.
	 */
	$id = apply_filters( 'chatgate_user_id', 'wp:' . $user->ID, $user );
	return is_string( $id ) && chatgate_user_id_valid( $id ) ? $id : 'wp:' . $user->ID;
}

/**
 * Whether $user may chat under the "who may chat" setting: every logged-in
 * user, or only those holding the capability (or role) configured.
 *
 * @param WP_User $user The user.
 */
function chatgate_user_may_chat( WP_User $user ): bool {
	$may = $user->exists();
	if ( $may && 'capability' === chatgate_option( 'chatgate_who' ) ) {
		$cap = chatgate_option( 'chatgate_capability' );
		$may = wp_roles()->is_role( $cap ) ? in_array( $cap, (array) $user->roles, true ) : user_can( $user, $cap );
	}
	/**
	 * Filters whether a user may chat (and so gets a chatgate cookie).
	 *
	 * @param bool    $may  The setting's answer.
	 * @param WP_User $user The user.
	 */
	return (bool) apply_filters( 'chatgate_user_may_chat', $may, $user );
}

/**
 * Sets the cookie (or removes it when $value is '').
 *
 * @param string $value Token, or '' to clear.
 */
function chatgate_set_cookie( string $value ): void {
	if ( headers_sent() ) {
		return;
	}
	setcookie(
		chatgate_option( 'chatgate_cookie_name' ),
		$value,
		array(
			// A browser-session cookie: the token inside expires with the
			// WordPress session, and every page view renews the cookie.
			'expires'  => '' === $value ? time() - YEAR_IN_SECONDS : 0,
			'path'     => chatgate_option( 'chatgate_chat_path' ),
			'secure'   => is_ssl(),
			'httponly' => true,
			'samesite' => 'Strict',
		)
	);
}

/**
 * Mints and sets the cookie for $user until $expiration; clears it when the
 * user may not chat or no key is configured.
 *
 * @param WP_User $user       The user.
 * @param int     $expiration When the WordPress session ends (unix seconds).
 */
function chatgate_session_issue( WP_User $user, int $expiration ): void {
	if ( ! chatgate_user_may_chat( $user ) || $expiration <= time() ) {
		chatgate_set_cookie( '' );
		return;
	}
	$key = chatgate_signing_key();
	if ( is_wp_error( $key ) ) {
		chatgate_set_cookie( '' );
		return;
	}
	chatgate_set_cookie( chatgate_mint( chatgate_user_id( $user ), $key['kid'], $key['secret'], $expiration ) );
}

/**
 * On every page WordPress builds: renew the cookie for a user who may chat,
 * clear it for one who may not or whose WordPress login is stale.
 */
function chatgate_session_refresh(): void {
	if ( wp_doing_cron() || ( defined( 'WP_CLI' ) && WP_CLI ) ) {
		return;
	}
	if ( is_user_logged_in() ) {
		// Only a browser login (the logged-in cookie) gets the cookie: not
		// an application password or another API authentication.
		$auth = wp_parse_auth_cookie( '', 'logged_in' );
		if ( is_array( $auth ) ) {
			chatgate_session_issue( wp_get_current_user(), (int) $auth['expiration'] );
		}
		return;
	}
	// A WordPress login cookie that no longer validates (logged out
	// elsewhere, password changed, session expired): its chatgate cookie
	// goes too. Anonymous visitors get no Set-Cookie at all.
	if ( defined( 'LOGGED_IN_COOKIE' ) && isset( $_COOKIE[ LOGGED_IN_COOKIE ] ) ) {
		chatgate_set_cookie( '' );
	}
}

/**
 * WordPress issues its login cookie (log in, password change, "remember
 * me"): issue ours with the same expiry.
 *
 * @param string $cookie     The logged-in cookie (unused).
 * @param int    $expire     Cookie expiry (unused).
 * @param int    $expiration Session expiry.
 * @param int    $user_id    User id.
 */
function chatgate_session_on_login( $cookie, $expire, $expiration, $user_id ): void {
	$user = get_userdata( (int) $user_id );
	if ( $user instanceof WP_User ) {
		chatgate_session_issue( $user, (int) $expiration );
	}
}

/**
 * WordPress clears its cookies (log out, password change): clear ours.
 */
function chatgate_session_clear(): void {
	chatgate_set_cookie( '' );
}
