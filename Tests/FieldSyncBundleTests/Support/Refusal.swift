import FieldSyncBundle

/// How an attempt to read a bundle ended.
enum Outcome: CustomStringConvertible {
    case accepted
    case refused(BundleError)
    case failed(any Error)

    /// The refusal's code, if it was a ``BundleError``.
    var code: BundleError.Code? {
        if case .refused(let error) = self { return error.code }
        return nil
    }

    var error: BundleError? {
        if case .refused(let error) = self { return error }
        return nil
    }

    var description: String {
        switch self {
        case .accepted: "accepted"
        case .refused(let error): "refused (\(error.code)): \(error)"
        case .failed(let error): "failed with a non-bundle error: \(error)"
        }
    }
}

/// Runs `body` and says whether it succeeded, threw a ``BundleError``, or threw anything else.
func outcome(_ body: () throws -> Void) -> Outcome {
    do {
        try body()
        return .accepted
    } catch let error as BundleError {
        return .refused(error)
    } catch {
        return .failed(error)
    }
}
