/// How a public identity offered for a node compares with the one recorded for it.
///
/// A node's keys are replaced by raising the key epoch (`fieldsync keys generate --epoch N+1`). A key of an
/// older epoch is most likely a retired key (possibly a stolen one), and another key under the same epoch is a
/// different key claiming to be the current one: both need a person's explicit decision, and the callers refuse
/// them unless told otherwise.
public enum KeyChange: Sendable, Equatable {
    /// Nothing is recorded for the node yet.
    case first
    /// The offered identity is the recorded one.
    case unchanged
    /// A key of a newer epoch than the recorded one: an ordinary key replacement.
    case newerEpoch(recorded: UInt32)
    /// A key of an older epoch than the recorded one: going back to a retired key.
    case olderEpoch(recorded: UInt32)
    /// Another key under the recorded epoch.
    case sameEpochOtherKey(recordedFingerprint: String)

    /// Compares `offered` with `recorded` (the same node's identity, or `nil` if none is recorded).
    public init(recorded: PublicIdentity?, offered: PublicIdentity) {
        guard let recorded else {
            self = .first
            return
        }
        if recorded == offered {
            self = .unchanged
        } else if offered.epoch > recorded.epoch {
            self = .newerEpoch(recorded: recorded.epoch)
        } else if offered.epoch < recorded.epoch {
            self = .olderEpoch(recorded: recorded.epoch)
        } else {
            self = .sameEpochOtherKey(recordedFingerprint: recorded.fingerprint)
        }
    }
}
