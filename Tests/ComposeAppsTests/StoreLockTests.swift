import Foundation
import Testing
@testable import ComposeApps

/// The app store's lock against another process holding it (flock conflicts between open file
/// descriptions, so a second descriptor in this process stands in for the other process).
@Suite struct StoreLockTests {
    @Test func aStoreHeldByAnotherProcessIsBusyAndNamesTheStore() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("otter-storelock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try AppStore(root: root)
        let fd = open(root + "/lock", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let error = #expect(throws: AppStoreError.self) { _ = try store.lock() }
        #expect(error.map { "\($0)" }?.contains("in use by another otter process") == true)
    }

    @Test func aLockLetGoWithinTwoSecondsIsWaitedFor() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("otter-storelock-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try AppStore(root: root)
        let fd = open(root + "/lock", O_RDWR | O_CREAT, 0o644)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { close(fd) }
        let lock = try store.lock()
        lock.release()
    }
}
