<?php
// What seed 002's native PHP receiver calls but does not define, for
// tests/acceptance/test_seed_receivers.py. PHP's built-in server loads this file before the
// printed receiver (auto_prepend_file), so the receiver's own text stays as printed.
// Every call is appended as one JSON line, [name, ...arguments], to the file named by the
// SEED_RECEIVER_CALLS environment variable.

function seed_receiver_record(string $name, array $arguments): void
{
    $line = json_encode(array_merge([$name], $arguments)) . "\n";
    file_put_contents(getenv('SEED_RECEIVER_CALLS'), $line, FILE_APPEND | LOCK_EX);
}

function alreadyProcessed($refId)
{
    seed_receiver_record(__FUNCTION__, func_get_args());
    return false;
}

function updateOrderStatus($refId, $status, $sn = null)
{
    seed_receiver_record(__FUNCTION__, func_get_args());
}

function sendNotificationToUser($refId)
{
    seed_receiver_record(__FUNCTION__, func_get_args());
}

function sendFailureNotification($refId, $message)
{
    seed_receiver_record(__FUNCTION__, func_get_args());
}

function saveSN($refId, $sn)
{
    seed_receiver_record(__FUNCTION__, func_get_args());
}
