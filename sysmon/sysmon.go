package sysmon

// Slack is the monitor thread's timer slack: it then wakes about every
// Slack while the program works (it backs off to every 10 ms when idle
// either way), where it woke every 0.1 ms.
const Slack = 4_000_000 // ns
