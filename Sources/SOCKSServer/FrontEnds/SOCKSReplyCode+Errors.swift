import AsyncSockets
import Glibc
import SOCKSProtocol

extension SOCKSReplyCode {
    /// The reply a client gets when reaching its destination failed with `error` (RFC 1928 §6).
    ///
    /// Refused → 05, network unreachable → 03, host unreachable or name not found → 04, deadline or
    /// `ETIMEDOUT` → 06 (RFC 1928 has no "timed out"; "TTL expired" is the closest, as microsocks and
    /// Dante also answer), permission denied or the access policy → 02, anything else → 01.
    init(reaching error: any Error) {
        if error is AccessDenied {
            self = .notAllowed
            return
        }
        guard let error = error as? SocketError else {
            self = .generalFailure
            return
        }
        switch error {
        case .nameNotFound, .resolutionFailed:
            self = .hostUnreachable
        case .timedOut:
            self = .ttlExpired
        case .failed(_, let errno):
            switch errno.rawValue {
            case ECONNREFUSED: self = .connectionRefused
            case ENETUNREACH, EAFNOSUPPORT, EADDRNOTAVAIL: self = .networkUnreachable
            case EHOSTUNREACH, EHOSTDOWN: self = .hostUnreachable
            case ETIMEDOUT: self = .ttlExpired
            case EACCES, EPERM: self = .notAllowed
            default: self = .generalFailure
            }
        case .disconnected, .closed, .eventLoopsShutDown:
            self = .generalFailure
        }
    }
}
