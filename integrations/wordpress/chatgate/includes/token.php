<?php
/**
 * chatgate's session tokens, minted exactly as chatgate verifies them
 * (lib/who/signed.c, docs/sessions.md):
 *
 *     v2.<kid>.<base64url(user)>.<expiry unix seconds>.<base64url(HMAC-SHA256)>
 *
 * The MAC covers everything before the last dot. Without a key id (no
 * CHATGATE_KEY_ID) the legacy form v1.<user>.<expiry>.<mac> is minted, for
 * a chatgate configured with [session] secret instead of secrets.
 *
 * The signing secret comes only from the file named by the constant
 * CHATGATE_SECRET_FILE (wp-config.php). It is never stored, cached across
 * requests, logged or shown: callers get a token, or a reason that names
 * no part of the secret.
 *
 * @package chatgate
 */

defined( 'ABSPATH' ) || exit;

/** chatgate refuses shorter keys. */
const CHATGATE_SECRET_MIN = 32;
/** chatgate reads at most this much of a secret file. */
const CHATGATE_SECRET_MAX = 4096;

/**
 * base64url without padding, as chatgate's tokens use.
 *
 * @param string $bytes Raw bytes.
 */
function chatgate_b64url( string $bytes ): string {
	return rtrim( strtr( base64_encode( $bytes ), '+/', '-_' ), '=' );
}

/**
 * Whether $user is a valid chatgate user id: 1-128 of [A-Za-z0-9._@+:-].
 *
 * @param string $user User id.
 */
function chatgate_user_id_valid( string $user ): bool {
	return 1 === preg_match( '/^[A-Za-z0-9._@+:-]{1,128}$/', $user );
}

/**
 * Whether $kid is a valid key id: 1-16 of [A-Za-z0-9_-].
 *
 * @param string $kid Key id.
 */
function chatgate_kid_valid( string $kid ): bool {
	return 1 === preg_match( '/^[A-Za-z0-9_-]{1,16}$/', $kid );
}

/**
 * Mints a token. $kid '' gives a v1 token.
 *
 * @param string $user   chatgate user id.
 * @param string $kid    Key id ([session] secrets = KID:...), or ''.
 * @param string $secret Signing key.
 * @param int    $exp    Expiry, unix seconds.
 */
function chatgate_mint( string $user, string $kid, string $secret, int $exp ): string {
	$msg = ( '' === $kid ? 'v1.' : 'v2.' . $kid . '.' ) . chatgate_b64url( $user ) . '.' . $exp;
	return $msg . '.' . chatgate_b64url( hash_hmac( 'sha256', $msg, $secret, true ) );
}

/**
 * The signing key from wp-config.php's constants, read from its file now.
 * Returns array( 'kid' => ..., 'secret' => ... ) or a WP_Error whose message
 * says what is wrong (never anything read from the file).
 *
 * @return array{kid:string,secret:string}|WP_Error
 */
function chatgate_signing_key() {
	if ( ! defined( 'CHATGATE_SECRET_FILE' ) || ! is_string( CHATGATE_SECRET_FILE ) || '' === CHATGATE_SECRET_FILE ) {
		return new WP_Error( 'chatgate_no_secret', __( 'CHATGATE_SECRET_FILE is not defined in wp-config.php.', 'chatgate' ) );
	}
	$kid = defined( 'CHATGATE_KEY_ID' ) && is_string( CHATGATE_KEY_ID ) ? CHATGATE_KEY_ID : '';
	if ( '' !== $kid && ! chatgate_kid_valid( $kid ) ) {
		return new WP_Error( 'chatgate_bad_kid', __( 'CHATGATE_KEY_ID must be 1-16 letters, digits, "_" or "-".', 'chatgate' ) );
	}
	$path = CHATGATE_SECRET_FILE;
	if ( ! is_file( $path ) || ! is_readable( $path ) ) {
		return new WP_Error( 'chatgate_unreadable_secret', __( 'The file named by CHATGATE_SECRET_FILE cannot be read by the web server.', 'chatgate' ) );
	}
	// phpcs:ignore WordPress.WP.AlternativeFunctions.file_get_contents_file_get_contents -- a local file, not a URL.
	$secret = file_get_contents( $path, false, null, 0, CHATGATE_SECRET_MAX + 1 );
	if ( false === $secret ) {
		return new WP_Error( 'chatgate_unreadable_secret', __( 'The file named by CHATGATE_SECRET_FILE cannot be read by the web server.', 'chatgate' ) );
	}
	// chatgate drops the same trailing characters (lib/core/secret.c).
	$secret = rtrim( $secret, "\r\n \t" );
	if ( strlen( $secret ) < CHATGATE_SECRET_MIN || strlen( $secret ) > CHATGATE_SECRET_MAX ) {
		return new WP_Error( 'chatgate_bad_secret', __( 'The signing key must be 32 to 4096 bytes (openssl rand -hex 32).', 'chatgate' ) );
	}
	return array(
		'kid'    => $kid,
		'secret' => $secret,
	);
}
