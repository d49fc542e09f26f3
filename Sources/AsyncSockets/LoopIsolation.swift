/// The serial executor of the actors that live on one event loop (a server session names its connection's
/// loop's): their jobs join the loop's queue and run on its thread, isolated to the loop, one at a time with
/// every other job there. So a task of the loop calls such an actor without a hop when it is already on the
/// thread, and the actor needs no job of its own to schedule itself.
///
/// It is the loop's `isolation`, a separate object from the loop as a `TaskExecutor`, because the runtime
/// enqueues through the same method for both roles: the object a job comes through is what tells the loop
/// how to run it (`EventLoop.enqueue(_:isolated:)`).
package final class LoopIsolation: SerialExecutor, Sendable {
    /// The loop holds this object for its whole life (`EventLoop.isolation`), so the loop is alive whenever
    /// this is; unowned, so that the two do not keep each other alive.
    private unowned let loop: EventLoop

    init(loop: EventLoop) {
        self.loop = loop
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        loop.enqueue(UnownedJob(job), isolated: true)
    }

    /// Traps unless the calling thread is the loop's: what `assumeIsolated` and `preconditionIsolated` ask of
    /// an actor on this loop, when the runtime cannot tell from its own records.
    package func checkIsolated() {
        precondition(loop.isCurrent, "not on the event loop's thread")
    }
}
