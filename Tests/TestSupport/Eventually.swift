/// Waits until `condition` holds, polling, for at most `timeout`; returns whether it held. The bound is
/// only how long a test is willing to wait: a condition that holds sooner returns sooner.
///
/// The condition runs on a thread of the cooperative pool, which has one thread per core and serves every
/// test at once. A cheap condition is polled every 5 ms; a costly one (a census of thousands of sockets
/// under AddressSanitizer can take a good part of a second) waits three times as long as it took before it
/// is asked again (at most 250 ms), so that a poller keeps no more than a quarter of a thread. Polling
/// costly conditions back to back kept both threads of the 2-core machine busy, and other tests' tasks
/// then waited for 10–20 s.
package func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        let asked = clock.now
        if condition() { return true }
        let pause = min(max(.milliseconds(5), (clock.now - asked) * 3), .milliseconds(250))
        try? await Task.sleep(for: pause)
    }
    return condition()
}
