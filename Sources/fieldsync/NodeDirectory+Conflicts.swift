import FieldSyncCore
import Foundation

/// A table's conflict rule as written in the hub's `fieldsync.json`:
///
/// ```json
/// "conflict_rules": {"beneficiaries": {"strategy": "manual", "notify": true},
///                    "visits": {"strategy": "field_merge", "fallback": "last_write_wins",
///                               "merge_fields": ["notes", "status"]}}
/// ```
///
/// Checked while the file is read (a wrong field names the file, the table and the field); checked against the
/// table's columns when it is applied to the store.
struct ConfiguredRule: Codable, Equatable {
    var strategy: ConflictStrategy
    var fallback: ConflictStrategy?
    var mergeFields: [String]?
    var notify: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case strategy, fallback, mergeFields = "merge_fields", notify
    }

    init(from decoder: any Decoder) throws {
        try rejectUnknownFields(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "a conflict rule")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try Self.strategy(in: container, .strategy)
        fallback = container.contains(.fallback) ? try Self.strategy(in: container, .fallback) : nil
        mergeFields = try container.decodeIfPresent([String].self, forKey: .mergeFields)
        notify = try container.decodeIfPresent(Bool.self, forKey: .notify)
        if fallback == .fieldMerge {
            throw DecodingError.dataCorruptedError(
                forKey: .fallback, in: container, debugDescription: "the fallback cannot be field_merge itself")
        }
        if strategy != .fieldMerge && (fallback != nil || mergeFields != nil) {
            throw DecodingError.dataCorruptedError(
                forKey: fallback != nil ? .fallback : .mergeFields, in: container,
                debugDescription: "applies only to the field_merge strategy, not to \(strategy.rawValue)")
        }
    }

    private static func strategy(
        in container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> ConflictStrategy {
        let name = try container.decode(String.self, forKey: key)
        guard let strategy = ConflictStrategy(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "'\(name)' is not a strategy; use one of "
                    + ConflictStrategy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return strategy
    }

    /// The store's form of the rule for `table`; fields left out take the defaults of ``ConflictRule``.
    func rule(for table: String) -> ConflictRule {
        ConflictRule(
            table: table, strategy: strategy, fallback: fallback ?? .serverWins, mergeFields: mergeFields,
            notify: notify ?? false)
    }
}

/// Where `fieldsync hub notify` delivers conflict notifications: email, a webhook, or both.
///
/// ```json
/// "notify": {"smtp": {"host": "mail.example.org", "port": 587, "starttls": true, "username": "fieldsync",
///                     "password": "…", "from": "FieldSync <fieldsync@example.org>", "to": ["ops@example.org"],
///                     "ca_file": "/etc/ssl/certs/internal-ca.pem"},
///            "webhook": {"url": "https://chat.example.org/hooks/123", "headers": {"Authorization": "Bearer …"}}}
/// ```
struct NotifySettings: Codable {
    struct SMTP: Codable {
        var host: String
        var port: Int?
        var starttls: Bool?
        var username: String?
        var password: String?
        var from: String
        var to: [String]
        var caFile: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case host, port, starttls, username, password, from, to, caFile = "ca_file"
        }

        init(from decoder: any Decoder) throws {
            try rejectUnknownFields(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "notify.smtp")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            host = try container.decode(String.self, forKey: .host)
            port = try container.decodeIfPresent(Int.self, forKey: .port)
            starttls = try container.decodeIfPresent(Bool.self, forKey: .starttls)
            username = try container.decodeIfPresent(String.self, forKey: .username)
            password = try container.decodeIfPresent(String.self, forKey: .password)
            from = try container.decode(String.self, forKey: .from)
            to = try container.decode([String].self, forKey: .to)
            caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        }
    }

    struct Webhook: Codable {
        var url: String
        var headers: [String: String]?
        var caFile: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url, headers, caFile = "ca_file"
        }

        init(from decoder: any Decoder) throws {
            try rejectUnknownFields(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "notify.webhook")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decode(String.self, forKey: .url)
            headers = try container.decodeIfPresent([String: String].self, forKey: .headers)
            caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        }
    }

    var smtp: SMTP?
    var webhook: Webhook?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case smtp, webhook
    }

    init(from decoder: any Decoder) throws {
        try rejectUnknownFields(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), what: "notify")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        smtp = try container.decodeIfPresent(SMTP.self, forKey: .smtp)
        webhook = try container.decodeIfPresent(Webhook.self, forKey: .webhook)
    }

    /// The first field holding a secret, which makes the file need mode 0600: the SMTP password, webhook headers
    /// (they usually carry a token), or credentials in the webhook URL.
    var secretField: String? {
        if smtp?.password != nil { return "notify.smtp.password" }
        if let headers = webhook?.headers, !headers.isEmpty { return "notify.webhook.headers" }
        if let url = webhook?.url, URLComponents(string: url)?.password != nil { return "notify.webhook.url" }
        return nil
    }
}

/// Throws a decoding error at the first field of the object being decoded that is not in `allowed`, so a typo in a
/// hand-written file is reported rather than ignored.
private func rejectUnknownFields(in decoder: any Decoder, allowed: [String], what: String) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue })
    where !allowed.contains(key.stringValue) {
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: decoder.codingPath + [key],
                debugDescription: "unknown field; \(what) has the fields \(allowed.joined(separator: ", "))"))
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Where a table's rule comes from, for `fieldsync hub rules`.
enum RuleSource: String, Encodable {
    /// `conflict_rules` in the hub's `fieldsync.json`.
    case config
    /// Set with `fieldsync hub rules set` (or applied from the file earlier and since removed from it).
    case store
    /// Nobody set one: server wins, no notification.
    case `default`
}

extension NodeDirectory {
    /// Applies the rules of `conflict_rules` to the store, for the tables it syncs, where the store's rule differs.
    ///
    /// The file wins: a hub command run after the file changed brings the store in line before doing anything
    /// else. A rule for a table the hub does not sync yet is applied once the table is added. Removing a rule from
    /// the file leaves the store's rule as it was (then `hub rules set` can change it).
    func applyConfiguredRules(to store: any HubStore) throws {
        guard let configured = configuration.conflictRules, !configured.isEmpty else { return }
        let synced = Set(try store.tables().map(\.name))
        let current = Dictionary(try store.conflictRules().map { ($0.table, $0) }, uniquingKeysWith: { $1 })
        for (table, setting) in configured.sorted(by: { $0.key < $1.key }) where synced.contains(table) {
            let rule = setting.rule(for: table)
            guard current[table] != rule else { continue }
            do {
                try store.setConflictRule(rule)
            } catch let error as StoreError where error.code == .schema || error.code == .notFound {
                throw StoreError(
                    .invalidState, "field 'conflict_rules.\(table)': \(error.message)", location: configurationPath)
            }
        }
    }

    /// Tables named in `conflict_rules` that the hub does not sync (yet).
    func configuredRulesForUnsyncedTables(_ store: any HubStore) throws -> [String] {
        guard let configured = configuration.conflictRules else { return [] }
        let synced = Set(try store.tables().map(\.name))
        return configured.keys.filter { !synced.contains($0) }.sorted()
    }

    /// Refuses to go on when the configuration file holds a secret and other users may read it.
    func requirePrivateConfiguration() throws {
        guard let field = configuration.notify?.secretField ?? (holdsPassword ? "the store's password" : nil) else {
            return
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: configurationPath)
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard mode & 0o077 == 0 else {
            throw StoreError(
                .invalidState,
                "holds a secret (\(field)) but other users may read it (mode \(String(mode, radix: 8))); "
                    + "run 'chmod 600 \(configurationPath)'", location: configurationPath)
        }
    }
}
