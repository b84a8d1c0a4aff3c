import FieldSyncBundle
import Testing

@Suite struct KeyChangeTests {
    @Test func judgesAnOfferedKeyAgainstTheRecordedOne() throws {
        let first = try NodeKeys.generate(id: "site-a", epoch: 1).identity
        let second = try NodeKeys.generate(id: "site-a", epoch: 2).identity
        let other = try NodeKeys.generate(id: "site-a", epoch: 1).identity

        #expect(KeyChange(recorded: nil, offered: first) == .first)
        #expect(KeyChange(recorded: first, offered: first) == .unchanged)
        #expect(KeyChange(recorded: first, offered: second) == .newerEpoch(recorded: 1))
        #expect(KeyChange(recorded: second, offered: first) == .olderEpoch(recorded: 2))
        #expect(
            KeyChange(recorded: first, offered: other) == .sameEpochOtherKey(recordedFingerprint: first.fingerprint))
    }
}
