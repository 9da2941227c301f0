<?php
// The PHP-FPM baseline of `make bench` (docs/bench.md): the chat endpoint
// as a LAMP developer would write it, with no chatgate in the path. The
// session is PHP's own, kept in memcached by php-memcached's session
// handler (the bench seeds one per user); one per-user counter per minute
// in memcached; the provider call with curl; one log line. It does less
// than chatgate (no budget, no guards, no pre-auth counter): it is a floor
// for "what PHP costs", not a rewrite of chatgate.
// Settings come from the pool's env[] lines (scripts/bench writes them).

header('Content-Type: application/json');

function fail(int $status, string $type): void
{
    http_response_code($status);
    echo json_encode(['error' => ['type' => $type]]);
    exit;
}

if (($_SERVER['HTTP_ORIGIN'] ?? '') !== getenv('CHAT_ORIGIN')) {
    fail(403, 'forbidden');
}
// The session is only read: read_and_close releases it at once.
session_start(['read_and_close' => true]);
$user = $_SESSION['user'] ?? null;
if ($user === null) {
    fail(401, 'unauthorized');
}
$in = json_decode(file_get_contents('php://input'), true);
if (!is_array($in) || !is_string($in['message'] ?? null)) {
    fail(400, 'invalid_request');
}

// One connection per FPM child, kept between requests (persistent id).
$mc = new Memcached('chat');
if (!$mc->getServerList()) {
    [$host, $port] = explode(':', getenv('CHAT_MEMCACHED'));
    $mc->addServer($host, (int) $port);
}
$key = 'rate:' . $user . ':' . intdiv(time(), 60);
$n = $mc->increment($key);
if ($n === false) {
    $mc->add($key, 1, 120);
    $n = 1;
}
if ($n > 1000000) {
    fail(429, 'rate_limited');
}

$ch = curl_init(getenv('CHAT_UPSTREAM') . '/v1/messages');
curl_setopt_array($ch, [
    CURLOPT_POST => true,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 30,
    CURLOPT_HTTPHEADER => [
        'Content-Type: application/json',
        'x-api-key: ' . getenv('CHAT_KEY'),
        'anthropic-version: 2023-06-01',
    ],
    CURLOPT_POSTFIELDS => json_encode([
        'model' => 'claude-test-model',
        'max_tokens' => 256,
        'system' => 'You are a test assistant.',
        'messages' => [['role' => 'user', 'content' => $in['message']]],
    ]),
]);
$body = curl_exec($ch);
$code = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
curl_close($ch);
$answer = is_string($body) ? json_decode($body, true) : null;
if ($code !== 200 || !isset($answer['content'][0]['text'])) {
    fail(502, 'upstream_error');
}

file_put_contents(getenv('CHAT_LOG'), json_encode([
    'ts' => time(), 'user' => $user,
    'input_tokens' => $answer['usage']['input_tokens'] ?? 0,
    'output_tokens' => $answer['usage']['output_tokens'] ?? 0,
]) . "\n", FILE_APPEND | LOCK_EX);

echo json_encode(['reply' => $answer['content'][0]['text']]);
