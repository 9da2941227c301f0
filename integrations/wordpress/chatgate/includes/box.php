<?php
/**
 * The chat box: shortcode [chatgate] and the block "chatgate/chat" render
 * the same markup. Its script and style are enqueued files of this plugin
 * (no inline script or style, nothing from another host), so the box works
 * under a strict Content-Security-Policy (script-src 'self'; connect-src
 * 'self'). Its words reach the script through a data- attribute, translated
 * here.
 *
 * Model text is only ever shown as text (assets/chat.js uses textContent).
 *
 * @package chatgate
 */

defined( 'ABSPATH' ) || exit;

add_action( 'init', 'chatgate_register_box' );
add_action( 'wp_enqueue_scripts', 'chatgate_enqueue_early' );

/**
 * Registers the assets, the shortcode and the block.
 */
function chatgate_register_box(): void {
	$url = plugins_url( 'assets/', CHATGATE_PLUGIN_FILE );
	wp_register_script( 'chatgate-chat', $url . 'chat.js', array(), CHATGATE_VERSION, true );
	wp_register_style( 'chatgate-chat', $url . 'chat.css', array(), CHATGATE_VERSION );
	add_shortcode( 'chatgate', 'chatgate_shortcode' );
	if ( function_exists( 'register_block_type' ) ) {
		register_block_type(
			CHATGATE_PLUGIN_DIR . '/block',
			array( 'render_callback' => 'chatgate_render_block' )
		);
	}
}

/**
 * On a page whose content holds the box, put the style in <head> (the
 * shortcode would otherwise enqueue it late, in the footer).
 */
function chatgate_enqueue_early(): void {
	$post = get_post();
	if ( is_singular() && $post instanceof WP_Post
		&& ( has_shortcode( $post->post_content, 'chatgate' ) || has_block( 'chatgate/chat', $post ) ) ) {
		wp_enqueue_style( 'chatgate-chat' );
		wp_enqueue_script( 'chatgate-chat' );
	}
}

/**
 * [chatgate] (no attributes).
 *
 * @param array|string $atts Shortcode attributes (none used).
 */
function chatgate_shortcode( $atts = array() ): string {
	unset( $atts );
	return chatgate_render_box();
}

/**
 * The block's render callback.
 *
 * @param array $attributes Block attributes (none used).
 */
function chatgate_render_block( $attributes = array() ): string {
	unset( $attributes );
	return chatgate_render_box();
}

/**
 * The words the script shows, translated.
 *
 * @return array<string,string>
 */
function chatgate_box_strings(): array {
	return array(
		'you'         => __( 'You', 'chatgate' ),
		'assistant'   => __( 'Assistant', 'chatgate' ),
		'error'       => __( 'Error', 'chatgate' ),
		'waiting'     => __( 'Waiting for the answer…', 'chatgate' ),
		/* translators: 1: requests left, 2: requests allowed per minute. */
		'left'        => __( '%1$s of %2$s requests left this minute', 'chatgate' ),
		'login'       => __( 'Please log in to chat.', 'chatgate' ),
		'login_link'  => __( 'Log in', 'chatgate' ),
		'rate'        => __( 'You have sent too many messages.', 'chatgate' ),
		'budget'      => __( 'The chat budget for now is used up.', 'chatgate' ),
		'retry_one'   => __( 'Please wait 1 second and try again.', 'chatgate' ),
		/* translators: %s: seconds to wait. */
		'retry_many'  => __( 'Please wait %s seconds and try again.', 'chatgate' ),
		'retry_later' => __( 'Please wait a minute and try again.', 'chatgate' ),
		'forbidden'   => __( 'This page is not allowed to use the chat service.', 'chatgate' ),
		'too_long'    => __( 'Your message is too long.', 'chatgate' ),
		/* translators: %s: the reason chatgate gave. */
		'invalid'     => __( 'Your message could not be sent: %s', 'chatgate' ),
		'invalid_any' => __( 'the request was not valid.', 'chatgate' ),
		'unavailable' => __( 'The AI service is unavailable right now. Please try again in a moment.', 'chatgate' ),
		/* translators: %s: the reason or HTTP status. */
		'refused'     => __( 'The request was refused (%s).', 'chatgate' ),
		/* translators: %s: HTTP status code. */
		'status'      => __( 'status %s', 'chatgate' ),
		'cut_off'     => __( 'The answer was cut off. Please try again.', 'chatgate' ),
		'unreachable' => __( 'The chat service could not be reached. Check your connection and try again.', 'chatgate' ),
	);
}

/**
 * The box for the current visitor: the chat form for a user who may chat,
 * otherwise a notice saying why not (and where to log in).
 */
function chatgate_render_box(): string {
	$user = wp_get_current_user();
	if ( ! $user->exists() ) {
		return chatgate_notice(
			'login',
			esc_html__( 'Please log in to chat.', 'chatgate' ) . ' <a class="chatgate-login" href="'
			. esc_url( wp_login_url( (string) get_permalink() ) ) . '">' . esc_html__( 'Log in', 'chatgate' ) . '</a>'
		);
	}
	if ( ! chatgate_user_may_chat( $user ) ) {
		return chatgate_notice( 'denied', esc_html__( 'Your account is not allowed to use the chat.', 'chatgate' ) );
	}
	if ( is_wp_error( chatgate_signing_key() ) ) {
		$why = current_user_can( 'manage_options' )
			? __( 'The chat is not set up yet: see Settings > chatgate.', 'chatgate' )
			: __( 'The chat is not available right now.', 'chatgate' );
		return chatgate_notice( 'unconfigured', esc_html( $why ) );
	}

	static $n = 0;
	++$n;
	$id = 'chatgate-message-' . $n;
	wp_enqueue_script( 'chatgate-chat' );
	wp_enqueue_style( 'chatgate-chat' );
	$login = wp_login_url( (string) get_permalink() );

	return '<div class="chatgate-box" data-state="ready"'
		. ' data-chat-path="' . esc_attr( chatgate_option( 'chatgate_chat_path' ) ) . '"'
		. ' data-login-url="' . esc_url( $login ) . '"'
		. ' data-strings="' . esc_attr( (string) wp_json_encode( chatgate_box_strings() ) ) . '">'
		. '<p class="chatgate-limits" aria-live="polite"></p>'
		. '<ol class="chatgate-log" aria-live="polite"></ol>'
		. '<p class="chatgate-status" role="status"></p>'
		. '<form class="chatgate-form" autocomplete="off">'
		. '<label class="screen-reader-text" for="' . esc_attr( $id ) . '">' . esc_html__( 'Message', 'chatgate' ) . '</label>'
		. '<textarea id="' . esc_attr( $id ) . '" class="chatgate-message" rows="2" maxlength="10000" required placeholder="'
		. esc_attr__( 'Ask something…', 'chatgate' ) . '"></textarea>'
		. '<button class="chatgate-send" type="submit">' . esc_html__( 'Send', 'chatgate' ) . '</button>'
		. '</form></div>';
}

/**
 * The box when the visitor cannot chat.
 *
 * @param string $state     login | denied | unconfigured (data-state).
 * @param string $html_text Already-escaped HTML of the notice.
 */
function chatgate_notice( string $state, string $html_text ): string {
	wp_enqueue_style( 'chatgate-chat' );
	return '<div class="chatgate-box" data-state="' . esc_attr( $state ) . '">'
		. '<p class="chatgate-notice">' . $html_text . '</p></div>';
}
