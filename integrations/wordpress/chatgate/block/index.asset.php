<?php
/**
 * Dependencies of block/index.js (WordPress 6.1 needs this file for a
 * block.json "file:" script, or silently drops the script).
 *
 * @package chatgate
 */

return array(
	'dependencies' => array( 'wp-blocks', 'wp-element', 'wp-i18n' ),
	'version'      => '1.0.0',
);
