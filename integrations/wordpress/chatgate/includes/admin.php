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
			'help'      => __( 'chatgate\'s [status] page on this server, over loopback (127.0.0.1, [::1] or localhost only), e.g. http://127.0.0.1:8081/chatgate-status. Also used to check that chatgate accepts this site\'s tokens. Empty: neither.', 'chatgate' ),
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
	echo '<p>' . esc_html( $text ) . '</p>';
	$check = chatgate_self_check( $key );
	unset( $key );
	if ( null !== $check ) {
		echo '<div class="notice inline ' . ( $check[0] ? 'notice-success' : 'notice-error' ) . ' chatgate-self-check"><p>'
			. esc_html( $check[1] ) . '</p></div>';
	}
}

/**
 * Asks chatgate, over the status page's loopback origin, whether it accepts
 * this site's tokens: a token for the current administrator (one minute,
 * sent as a Bearer header, never to a browser) with an empty message. chatgate
 * checks the session before the message, so 400 means the token passed and
 * 401 that chatgate does not know this key. Null when there is no loopback
 * URL to ask.
 *
 * @param array{kid:string,secret:string} $key Signing key.
 * @return array{0:bool,1:string}|null
 */
function chatgate_self_check( array $key ): ?array {
	$status = chatgate_option( 'chatgate_status_url' );
	$parts  = wp_parse_url( $status );
	if ( '' === $status || ! chatgate_loopback_url( $status ) || ! is_array( $parts ) ) {
		return null;
	}
	$url   = $parts['scheme'] . '://' . $parts['host'] . ( isset( $parts['port'] ) ? ':' . (int) $parts['port'] : '' )
		. chatgate_option( 'chatgate_chat_path' );
	$token = chatgate_mint( chatgate_user_id( wp_get_current_user() ), $key['kid'], $key['secret'], time() + MINUTE_IN_SECONDS );
	$res   = wp_remote_post(
		$url,
		array(
			'timeout'     => CHATGATE_STATUS_TIMEOUT,
			'redirection' => 0,
			'headers'     => array(
				'Authorization' => 'Bearer ' . $token,
				'Content-Type'  => 'application/json',
			),
			'body'        => '{"message":""}',
		)
	);
	unset( $token );
	$code = is_wp_error( $res ) ? 0 : (int) wp_remote_retrieve_response_code( $res );
	if ( 400 === $code ) {
		return array( true, __( 'chatgate accepts this site\'s tokens.', 'chatgate' ) );
	}
	if ( 401 === $code ) {
		return array( false, __( 'chatgate refuses this site\'s tokens: its [session] secrets must hold this key file under this key id.', 'chatgate' ) );
	}
	if ( 0 === $code ) {
		return array( false, __( 'chatgate could not be reached at the chat path over loopback.', 'chatgate' ) );
	}
	/* translators: %d: HTTP status. */
	return array( false, sprintf( __( 'chatgate answered the token check with HTTP %d.', 'chatgate' ), $code ) );
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
		__( 'Tokens in / out', 'chatgate' )                      => number_format_i18n( chatgate_status_num( $data, 'tokens', 'in' ) )
			. ' / ' . number_format_i18n( chatgate_status_num( $data, 'tokens', 'out' ) ),
		__( 'Workers busy / idle', 'chatgate' )                  => number_format_i18n( chatgate_status_num( $data, 'pool', 'busy' ) )
			. ' / ' . number_format_i18n( chatgate_status_num( $data, 'pool', 'idle' ) ),
		__( 'Uptime (hours)', 'chatgate' )                       => number_format_i18n( chatgate_status_num( $data, 'uptime_s' ) / HOUR_IN_SECONDS, 1 ),
	);
	// chatgate versions that count spend on the status page; the report
	// below has it per user in any case.
	if ( chatgate_status_num( $data, 'spend_usd' ) > 0 ) {
		$rows[ __( 'Spend since chatgate started (USD)', 'chatgate' ) ] = number_format_i18n( chatgate_status_num( $data, 'spend_usd' ), 4 );
	}
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

	$budget = isset( $data['budget_micro_usd'] ) && is_array( $data['budget_micro_usd'] ) ? $data['budget_micro_usd'] : array();
	foreach ( chatgate_budget_labels() as $k => $label ) {
		if ( isset( $budget[ $k ] ) && is_numeric( $budget[ $k ] ) && $budget[ $k ] > 0 ) {
			$rows[ $label ] = chatgate_usd( (float) $budget[ $k ] );
		}
	}
	chatgate_admin_table( 'chatgate-usage', $rows );
	chatgate_admin_today( (float) ( $budget['site_daily'] ?? 0 ) );
}

/**
 * The budget caps the status page reports, by key.
 *
 * @return array<string,string>
 */
function chatgate_budget_labels(): array {
	return array(
		'site_daily'   => __( 'Site budget per day (USD)', 'chatgate' ),
		'site_monthly' => __( 'Site budget per month (USD)', 'chatgate' ),
		'user_daily'   => __( 'Budget per user per day (USD)', 'chatgate' ),
		'user_monthly' => __( 'Budget per user per month (USD)', 'chatgate' ),
	);
}

/**
 * Micro-dollars as dollars.
 *
 * @param float $micro Micro-USD.
 */
function chatgate_usd( float $micro ): string {
	return number_format_i18n( $micro / 1e6, 4 );
}

/**
 * A two-column table of label => value, escaped.
 *
 * @param string               $class CSS class.
 * @param array<string,string> $rows  Rows.
 */
function chatgate_admin_table( string $class, array $rows ): void {
	echo '<table class="widefat striped ' . esc_attr( $class ) . '"><tbody>';
	foreach ( $rows as $label => $value ) {
		echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td>' . esc_html( $value ) . '</td></tr>';
	}
	echo '</tbody></table>';
}

/**
 * Today's spend per user, from the file `chatgate report --json` writes
 * (CHATGATE_REPORT_FILE in wp-config.php; docs/wordpress.md has the cron
 * line), against the site's daily budget.
 *
 * @param float $site_daily Site budget per day in micro-USD (0: none).
 */
function chatgate_admin_today( float $site_daily ): void {
	if ( ! defined( 'CHATGATE_REPORT_FILE' ) || ! is_string( CHATGATE_REPORT_FILE ) ) {
		return;
	}
	echo '<h3>' . esc_html__( 'Today (UTC)', 'chatgate' ) . '</h3>';
	$path  = CHATGATE_REPORT_FILE;
	$mtime = is_readable( $path ) ? (int) filemtime( $path ) : 0;
	// phpcs:ignore WordPress.WP.AlternativeFunctions.file_get_contents_file_get_contents -- a local file.
	$report = $mtime ? json_decode( (string) file_get_contents( $path, false, null, 0, CHATGATE_STATUS_MAX_BYTES ), true ) : null;
	if ( ! is_array( $report ) || gmdate( 'Y-m-d', $mtime ) !== gmdate( 'Y-m-d' ) ) {
		echo '<p class="chatgate-today-none">' . esc_html__( 'No report for today yet (see the cron line in the chatgate WordPress docs).', 'chatgate' ) . '</p>';
		return;
	}
	$total = (float) ( $report['total']['cost_micro_usd'] ?? 0 );
	$spent = $site_daily > 0
		/* translators: 1: spent today, 2: daily budget, 3: percentage. */
		? sprintf( __( '%1$s of %2$s (%3$s%%)', 'chatgate' ), chatgate_usd( $total ), chatgate_usd( $site_daily ), number_format_i18n( 100 * $total / $site_daily, 1 ) )
		: chatgate_usd( $total );
	/* translators: %s: time of the report. */
	echo '<p>' . esc_html( sprintf( __( 'Report of %s UTC.', 'chatgate' ), gmdate( 'H:i', $mtime ) ) ) . '</p>';
	chatgate_admin_table( 'chatgate-today', array( __( 'Site spend today (USD)', 'chatgate' ) => $spent ) );

	echo '<table class="widefat striped chatgate-users"><thead><tr>'
		. '<th scope="col">' . esc_html__( 'User', 'chatgate' ) . '</th>'
		. '<th scope="col">' . esc_html__( 'Requests', 'chatgate' ) . '</th>'
		. '<th scope="col">' . esc_html__( 'Refused or failed', 'chatgate' ) . '</th>'
		. '<th scope="col">' . esc_html__( 'Tokens in / out', 'chatgate' ) . '</th>'
		. '<th scope="col">' . esc_html__( 'Spend (USD)', 'chatgate' ) . '</th></tr></thead><tbody>';
	$groups = isset( $report['groups'] ) && is_array( $report['groups'] ) ? $report['groups'] : array();
	foreach ( $groups as $g ) {
		if ( ! is_array( $g ) || ! isset( $g['name'] ) || ! is_string( $g['name'] ) ) {
			continue;
		}
		echo '<tr><td>' . esc_html( chatgate_user_label( $g['name'] ) ) . '</td>'
			. '<td>' . esc_html( number_format_i18n( (float) ( $g['requests'] ?? 0 ) ) ) . '</td>'
			. '<td>' . esc_html( number_format_i18n( (float) ( $g['errors'] ?? 0 ) ) ) . '</td>'
			. '<td>' . esc_html( number_format_i18n( (float) ( $g['input_tokens'] ?? 0 ) ) . ' / ' . number_format_i18n( (float) ( $g['output_tokens'] ?? 0 ) ) ) . '</td>'
			. '<td>' . esc_html( chatgate_usd( (float) ( $g['cost_micro_usd'] ?? 0 ) ) ) . '</td></tr>';
	}
	echo '</tbody></table>';
}

/**
 * A chatgate user id as a name an administrator recognises.
 *
 * @param string $id chatgate user id, e.g. wp:42.
 */
function chatgate_user_label( string $id ): string {
	if ( '-' === $id || '' === $id ) {
		return __( '(not logged in)', 'chatgate' );
	}
	if ( preg_match( '/^wp:(\d+)$/', $id, $m ) ) {
		$user = get_userdata( (int) $m[1] );
		if ( $user instanceof WP_User ) {
			return $user->user_login . ' (' . $id . ')';
		}
	}
	return $id;
}
