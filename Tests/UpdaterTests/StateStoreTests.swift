import Foundation
import Testing
@testable import Updater

@Suite struct StateStoreTests {
    let v1 = target(1, os: 1, apps: [app("web", 1)])
    let v2 = target(2, os: 2, apps: [app("web", 2)])

    func tempPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otter-state-\(UUID().uuidString)").path
        return "\(dir)/var/lib/otter/state.db"
    }

    @Test func fileStoreUsesWALAndKeepsEverythingAcrossReopen() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let progress = UpdateProgress(id: "2-abc", target: v2, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: .newOS,
                                      step: .reboot, rebootBootID: "boot-1", startedAt: Date(timeIntervalSince1970: 1_700_000_000))
        do {
            let store = try StateStore.open(path: path)
            #expect(try store.journalMode() == "wal")
            #expect(try store.synchronousMode() == 2, "every commit is synced (FULL)")
            try store.setCurrent(v1)
            try store.saveProgress(progress, at: Date())
            try store.markBad(target(3, os: 3, apps: []), reason: "health check failed: x", at: Date(timeIntervalSince1970: 5))
            try store.saveHealth(HealthVerdict(passed: false, summary: "x failed", reportJSON: #"{"checks":[]}"#), of: v2, at: Date())
            try store.enqueue(UpdateEvent(time: Date(), correlationID: "2-abc", target: v2.name, version: "2", step: "fetch", result: .started))
        }
        let reopened = try StateStore.open(path: path)
        #expect(try reopened.current() == v1)
        #expect(try reopened.progress() == progress)
        #expect(try reopened.badTargets().map(\.reason) == ["health check failed: x"])
        #expect(try reopened.lastHealth()?.reportJSON == #"{"checks":[]}"#)
        #expect(try reopened.queuedEvents().map(\.event.step) == ["fetch"])

        try reopened.commit(progress, at: Date())
        try reopened.commit(progress, at: Date())  // idempotent
        #expect(try reopened.current() == v2)
        #expect(try reopened.previous() == v1)
        #expect(try reopened.progress() == nil)
    }

    @Test func finishingAManualRollbackMakesThePreviousTargetCurrent() throws {
        let store = try StateStore.inMemory()
        let update = UpdateProgress(id: "2", target: v2, from: v1, fromCommit: v1.osCommit, fromApps: v1.apps, kind: .newOS, startedAt: Date())
        try store.setCurrent(v1)
        try store.commit(update, at: Date())
        try store.finishRollback(update, at: Date())
        #expect(try store.current() == v1)
        #expect(try store.previous() == nil)
        try store.finishRollback(update, at: Date())  // idempotent: v1 stays
        #expect(try store.current() == v1)
    }

    @Test func anUnreadableDatabaseIsReportedWithWhatToDo() throws {
        let path = tempPath()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: UpdaterError.self) { try StateStore.open(path: path) }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("move it aside") == true)
    }
}

@Suite struct UpdateLockTests {
    @Test func aSecondUpdaterIsRefusedWhileOneHoldsTheDevice() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otter-lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v1 = target(1, os: 1, apps: [app("web", 1)]), v2 = target(2, os: 1, apps: [app("web", 2)])
        let store = try StateStore.open(path: dir + "/state.db")
        try store.setCurrent(v1)
        let device = FakeDevice(booted: v1.osCommit, apps: v1.apps)
        let executor = UpdateExecutor(store: store, os: device, apps: device, bootFlags: device, health: device, rebooter: device)

        // Another process holds the lock (flock conflicts between open file descriptions).
        let fd = open(dir + "/state.db.lock", O_RDWR | O_CREAT, 0o600)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let error = await #expect(throws: UpdaterError.self) { try await executor.apply(v2) }
        #expect(error?.message.contains("another otter process") == true)
        #expect(try store.progress() == nil, "nothing was recorded")
        close(fd)  // that process exits (or is killed): the kernel releases the lock

        #expect(try await executor.apply(v2) == .finished(.committed(v2)))
    }

    /// A spawning child's inherited copy of the descriptor holds the lock until its exec: a lock
    /// that is let go within the patience is waited for, not reported as another update.
    @Test func aLockReleasedWithinThePatienceIsWaitedFor() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otter-lock-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = open(dir + "/state.db.lock", O_RDWR | O_CREAT, 0o600)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { close(fd) }
        let started = ContinuousClock.now
        let ran = try await UpdateLock(path: dir + "/state.db.lock", patience: .seconds(10)).hold { true }
        #expect(ran)
        #expect(ContinuousClock.now - started >= .milliseconds(250))
    }
}
