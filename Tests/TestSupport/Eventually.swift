/// Waits until `condition` holds, polling, for at most `timeout`; returns whether it held. The bound is
/// only how long a test is willing to wait: a condition that holds sooner returns sooner.
package func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
