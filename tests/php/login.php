<?php
// A site's login page, as the integration tests see it: POST user=NAME logs
// in (the session then holds user_id), POST logout=1 logs out. ?store=mc
// keeps the session in memcached through the php-memcached extension
// (servers from the pool's CG_MC_SAVE_PATH), else in files.
if (($_GET['store'] ?? '') === 'mc') {
    ini_set('session.save_handler', 'memcached');
    ini_set('session.save_path', getenv('CG_MC_SAVE_PATH'));
}
session_start();
header('Content-Type: text/plain');
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    echo isset($_SESSION['user_id']) ? "user {$_SESSION['user_id']}\n" : "anonymous\n";
} elseif (isset($_POST['user'])) {
    session_regenerate_id(true);
    $_SESSION['user_id'] = $_POST['user'];
    $_SESSION['prefs'] = ['theme' => 'dark', 'recent' => [1, 2.5, true, null]];
    echo "logged in\n";
} else {
    unset($_SESSION['user_id']);
    echo "logged out\n";
}
