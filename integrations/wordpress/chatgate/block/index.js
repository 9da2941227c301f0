/* The "chatgate chat" block in the editor: a placeholder. The box itself is
 * rendered on the server (includes/box.php), for each visitor. No build
 * step: plain wp.* globals. */
( function ( blocks, element, i18n ) {
	'use strict';
	const el = element.createElement;
	const __ = i18n.__;

	blocks.registerBlockType( 'chatgate/chat', {
		edit: function () {
			return el(
				'div',
				{ className: 'chatgate-box chatgate-placeholder' },
				el( 'p', null, __( 'chatgate chat box: logged-in users who may chat see it here.', 'chatgate' ) )
			);
		},
		save: function () {
			return null;
		},
	} );
} )( window.wp.blocks, window.wp.element, window.wp.i18n );
