<?php
/**
 * Settings > chatgate: the non-secret settings (Settings API: nonce,
 * manage_options, sanitized on save, escaped on output), the state of the
 * signing key (configured or not, never its value or its file's content),
 * and a read-only usage summary from chatgate's status page, fetched
 * server-side over loopback.
 *
 * @package chatgate
 */

defined( 'ABSPATH' ) || exit;

add_action( 'admin_menu', 'chatgate_admin_menu' );
add_action( 'admin_init', 'chatgate_admin_settings' );

/** How long the status page may take before the summary gives up. */
const CHATGATE_STATUS_TIMEOUT = 3;
/** The status page is small; anything bigger is not it. */
const CHATGATE_STATUS_MAX_BYTES = 262144;

/**
 * Adds Settings > chatgate.
 */
function chatgate_admin_menu(): void {
	add_options_page(
		__( 'chatgate', 'chatgate' ),
		__( 'chatgate', 'chatgate' ),
		'manage_options',
		'chatgate',
		'chatgate_admin_page'
	);
}

/**
 * Registers the settings and their fields.
 */
function chatgate_admin_settings(): void {
	$sanitizers = array(
		'chatgate_chat_path'   => 'chatgate_sanitize_path',
		'chatgate_cookie_name' => 'chatgate_sanitize_cookie_name',
		'chatgate_who'         => 'chatgate_sanitize_who',
		'chatgate_capability'  => 'chatgate_sanitize_capability',
		'chatgate_status_url'  => 'chatgate_sanitize_status_url',
	);
	$defaults   = chatgate_defaults();
	foreach ( $sanitizers as $name => $sanitize ) {
		register_setting(
			'chatgate',
			$name,
			array(
				'type'              => 'string',
				'sanitize_callback' => $sanitize,
				'default'           => $defaults[ $name ],
				'show_in_rest'      => false,
			)
		);
	}

	add_settings_section( 'chatgate_main', __( 'Chat', 'chatgate' ), '__return_false', 'chatgate' );
	add_settings_field(
		'chatgate_chat_path',
		__( 'Chat path', 'chatgate' ),
		'chatgate_field_text',
		'chatgate',
		'chatgate_main',
		array(
			'label_for' => 'chatgate_chat_path',
			'help'      => __( 'chatgate\'s [server] chat_path; the cookie is sent to this path only.', 'chatgate' ),
		)
	);
	add_settings_field(
		'chatgate_cookie_name',
		__( 'Cookie name', 'chatgate' ),
		'chatgate_field_text',
		'chatgate',
		'chatgate_main',
		array(
			'label_for' => 'chatgate_cookie_name',
			'help'      => __( 'chatgate\'s [session] cookie.', 'chatgate' ),
		)
	);
	add_settings_field( 'chatgate_who', __( 'Who may chat', 'chatgate' ), 'chatgate_field_who', 'chatgate', 'chatgate_main' );
	add_settings_field(
		'chatgate_status_url',
		__( 'Status page URL', 'chatgate' ),
		'chatgate_field_text',
		'chatgate',
		'chatgate_main',
		array(
			'label_for' => 'chatgate_status_url',
			'help'      => __( 'chatgate\'s [status] path on this server over loopback, e.g. http://127.0.0.1/chatgate-status (only 127.0.0.1, [::1] or localhost). Empty: no usage summary.', 'chatgate' ),
		)
	);
}

/**
 * A text field for one option.
 *
 * @param array $args label_for (the option), help.
 */
function chatgate_field_text( array $args ): void {
	$name = $args['label_for'];
	printf(
		'<input type="text" class="regular-text code" id="%1$s" name="%1$s" value="%2$s"><p class="description">%3$s</p>',
		esc_attr( $name ),
		esc_attr( chatgate_option( $name ) ),
		esc_html( $args['help'] )
	);
}

/**
 * "Who may chat": everyone logged in, or a capability or role.
 */
function chatgate_field_who(): void {
	$who = chatgate_option( 'chatgate_who' );
	echo '<fieldset><label><input type="radio" name="chatgate_who" value="all"' . checked( $who, 'all', false ) . '> '
		. esc_html__( 'All logged-in users', 'chatgate' ) . '</label><br>';
	echo '<label><input type="radio" name="chatgate_who" value="capability"' . checked( $who, 'capability', false ) . '> '
		. esc_html__( 'Only users with this capability or role:', 'chatgate' ) . '</label> ';
	printf(
		'<input type="text" class="code" id="chatgate_capability" name="chatgate_capability" value="%s" aria-label="%s">',
		esc_attr( chatgate_option( 'chatgate_capability' ) ),
		esc_attr__( 'Capability or role', 'chatgate' )
	);
	echo '<p class="description">' . esc_html__( 'For example edit_posts, or a role such as editor. Users who may not chat get no chatgate cookie, and the chat box tells them why.', 'chatgate' ) . '</p></fieldset>';
}

/**
 * The settings page.
 */
function chatgate_admin_page(): void {
	if ( ! current_user_can( 'manage_options' ) ) {
		return;
	}
	echo '<div class="wrap"><h1>' . esc_html__( 'chatgate', 'chatgate' ) . '</h1>';
	chatgate_admin_key_state();
	echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '">';
	settings_fields( 'chatgate' );
	do_settings_sections( 'chatgate' );
	submit_button();
	echo '</form>';
	chatgate_admin_usage();
	echo '</div>';
}

/**
 * Whether the signing key is usable, in words; never the key or its path.
 */
function chatgate_admin_key_state(): void {
	echo '<h2>' . esc_html__( 'Signing key', 'chatgate' ) . '</h2>';
	$key = chatgate_signing_key();
	if ( is_wp_error( $key ) ) {
		echo '<div class="notice notice-error inline"><p>' . esc_html( $key->get_error_message() ) . '</p></div>';
		return;
	}
	$text = '' === $key['kid']
		? __( 'Configured in wp-config.php (no key id: v1 tokens for chatgate\'s [session] secret).', 'chatgate' )
		/* translators: %s: key id. */
		: sprintf( __( 'Configured in wp-config.php, key id %s (chatgate\'s [session] secrets).', 'chatgate' ), $key['kid'] );
	unset( $key );
	echo '<p>' . esc_html( $text ) . '</p>';
}

/**
 * chatgate's status page as an array, fetched server-side over loopback
 * (the browser never reaches it), or a WP_Error.
 *
 * @return array|WP_Error
 */
function chatgate_fetch_status() {
	$url = chatgate_option( 'chatgate_status_url' );
	if ( '' === $url || ! chatgate_loopback_url( $url ) ) {
		return new WP_Error( 'chatgate_no_status', __( 'No status page URL is set.', 'chatgate' ) );
	}
	$res = wp_remote_get(
		add_query_arg( 'format', 'json', $url ),
		array(
			'timeout'             => CHATGATE_STATUS_TIMEOUT,
			'redirection'         => 0,
			'limit_response_size' => CHATGATE_STATUS_MAX_BYTES,
			'headers'             => array( 'Accept' => 'application/json' ),
		)
	);
	if ( is_wp_error( $res ) ) {
		return new WP_Error( 'chatgate_status_down', __( 'chatgate\'s status page could not be reached.', 'chatgate' ) );
	}
	$code = (int) wp_remote_retrieve_response_code( $res );
	$data = json_decode( (string) wp_remote_retrieve_body( $res ), true );
	if ( 200 !== $code || ! is_array( $data ) ) {
		/* translators: %d: HTTP status. */
		return new WP_Error( 'chatgate_status_bad', sprintf( __( 'chatgate\'s status page answered HTTP %d (is this server in [status] allow?).', 'chatgate' ), $code ) );
	}
	return $data;
}

/**
 * A number from the status page, or 0.
 *
 * @param array  $data Status page.
 * @param string ...$path Keys.
 */
function chatgate_status_num( array $data, string ...$path ): float {
	foreach ( $path as $k ) {
		if ( ! is_array( $data ) || ! array_key_exists( $k, $data ) ) {
			return 0;
		}
		$data = $data[ $k ];
	}
	return is_numeric( $data ) ? (float) $data : 0;
}

/**
 * The read-only usage summary: site totals since chatgate started, errors
 * by type, and who is being answered right now.
 */
function chatgate_admin_usage(): void {
	echo '<h2>' . esc_html__( 'Usage', 'chatgate' ) . '</h2>';
	$data = chatgate_fetch_status();
	if ( is_wp_error( $data ) ) {
		echo '<p class="chatgate-usage-none">' . esc_html( $data->get_error_message() ) . '</p>';
		return;
	}
	$rows = array(
		__( 'Chat requests since chatgate started', 'chatgate' ) => number_format_i18n( chatgate_status_num( $data, 'requests' ) ),
		__( 'Spend since chatgate started (USD)', 'chatgate' )   => number_format_i18n( chatgate_status_num( $data, 'spend_usd' ), 4 ),
		__( 'Tokens in / out', 'chatgate' )                      => number_format_i18n( chatgate_status_num( $data, 'tokens', 'in' ) )
			. ' / ' . number_format_i18n( chatgate_status_num( $data, 'tokens', 'out' ) ),
		__( 'Workers busy / idle', 'chatgate' )                  => number_format_i18n( chatgate_status_num( $data, 'pool', 'busy' ) )
			. ' / ' . number_format_i18n( chatgate_status_num( $data, 'pool', 'idle' ) ),
		__( 'Uptime (hours)', 'chatgate' )                       => number_format_i18n( chatgate_status_num( $data, 'uptime_s' ) / HOUR_IN_SECONDS, 1 ),
	);
	$errors = isset( $data['errors'] ) && is_array( $data['errors'] ) ? $data['errors'] : array();
	foreach ( $errors as $type => $count ) {
		if ( is_numeric( $count ) && $count > 0 ) {
			/* translators: %s: chatgate error type, e.g. rate_limited. */
			$rows[ sprintf( __( 'Refused: %s', 'chatgate' ), (string) $type ) ] = number_format_i18n( (float) $count );
		}
	}
	$busy = array();
	$slots = isset( $data['slots'] ) && is_array( $data['slots'] ) ? $data['slots'] : array();
	foreach ( $slots as $slot ) {
		if ( is_array( $slot ) && isset( $slot['user'] ) && is_string( $slot['user'] ) ) {
			$busy[] = chatgate_user_label( $slot['user'] );
		}
	}
	if ( $busy ) {
		$rows[ __( 'Being answered now', 'chatgate' ) ] = implode( ', ', $busy );
	}

	echo '<table class="widefat striped chatgate-usage"><tbody>';
	foreach ( $rows as $label => $value ) {
		echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td>' . esc_html( $value ) . '</td></tr>';
	}
	echo '</tbody></table>';
}

/**
 * A chatgate user id as a name an administrator recognises.
 *
 * @param string $id chatgate user id, e.g. wp:42.
 */
function chatgate_user_label( string $id ): string {
	if ( preg_match( '/^wp:(\d+)$/', $id, $m ) ) {
		$user = get_userdata( (int) $m[1] );
		if ( $user instanceof WP_User ) {
			return $user->user_login . ' (' . $id . ')';
		}
	}
	return $id;
}
