import FieldSyncCore

/// The `sync_control` schema, created and migrated by FieldSync.
///
/// The reference procedure's tables, views and function keep their names and meanings (`client_state`,
/// `table_sync_state`, `sync_log`, `conflict_rules`, `conflict_notifications`, `sync_health`, `sync_metrics`,
/// `check_sync_alerts()`), so the staff's verification and dashboard queries run unchanged. FieldSync's own
/// bookkeeping sits beside them in the same schema. Each migration runs once, in order, recorded in
/// `sync_control.schema_migrations`; running them again does nothing.
enum PostgresMigrations {
    struct Migration {
        var version: Int
        var name: String
        var sql: String
    }

    /// Applies the migrations not yet recorded, in one transaction, under an advisory lock so two hub processes
    /// starting together do not race.
    static func migrate(_ connection: PostgresConnection) throws -> [Int] {
        try connection.withTransaction {
            try connection.advisoryTransactionLock("fieldsync.migrations")
            try connection.execute(
                "CREATE SCHEMA IF NOT EXISTS sync_control; "
                    + "CREATE TABLE IF NOT EXISTS sync_control.schema_migrations (version integer PRIMARY KEY, "
                    + "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            let done = Set(
                try connection.query("SELECT version FROM sync_control.schema_migrations").rows.compactMap {
                    $0[0].flatMap { Int($0) }
                })
            var applied: [Int] = []
            for migration in all where !done.contains(migration.version) {
                try connection.execute(migration.sql)
                try connection.run(
                    "INSERT INTO sync_control.schema_migrations (version, name) VALUES ($1, $2)",
                    [String(migration.version), migration.name])
                applied.append(migration.version)
            }
            return applied
        }
    }

    static let all: [Migration] = [
        Migration(version: 1, name: "sync_control schema", sql: initial),
        Migration(version: 2, name: "conflict rules, manual resolution, notifications", sql: conflictRules),
        Migration(
            version: 3, name: "conflicts by row",
            sql: "CREATE INDEX conflicts_row ON sync_control.conflicts (client_id, table_name, pk)"),
        Migration(version: 4, name: "refused bundles, conflicts waiting in sync_health", sql: refusals),
        Migration(version: 5, name: "highest version sent to each site", sql: sentVersion),
    ]

    /// `client_state.sent_version`: the highest hub version a return bundle written for the site may carry, the
    /// ceiling of the base versions its changes may claim. Which versions earlier bundles carried was not kept, so
    /// a site that was sent any return bundle starts at the hub's current version: never below what it can know.
    static let sentVersion = """
        ALTER TABLE sync_control.client_state ADD COLUMN sent_version bigint NOT NULL DEFAULT 0;
        UPDATE sync_control.client_state SET sent_version =
            (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync_control.version_seq)
            WHERE last_return_sequence > 0;
        """

    static let initial = """
        CREATE TABLE sync_control.hub_settings (key text PRIMARY KEY, value text NOT NULL);

        -- Hub versions: one sequence for every synced table. CACHE 1 keeps versions in the order they were taken,
        -- which the return watermark relies on.
        CREATE SEQUENCE sync_control.version_seq AS bigint START 1 CACHE 1;

        -- Registered sites (the reference's clients), with FieldSync's positions per site.
        CREATE TABLE sync_control.client_state (
            client_id VARCHAR(64) PRIMARY KEY,
            client_name VARCHAR(255) NOT NULL,
            last_sync_timestamp TIMESTAMP WITH TIME ZONE,
            last_sync_version BIGINT DEFAULT 0,
            sync_status VARCHAR(20) DEFAULT 'pending',
            created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
            public_key text NOT NULL,
            last_sequence bigint NOT NULL DEFAULT 0,
            last_bundle text,
            applied_through bigint NOT NULL DEFAULT 0,
            acked_return bigint NOT NULL DEFAULT 0,
            last_received_at timestamptz,
            last_return_sequence bigint NOT NULL DEFAULT 0,
            last_return_at timestamptz
        );
        COMMENT ON COLUMN sync_control.client_state.last_sync_version IS
            'highest hub version the site has acknowledged (its next return bundle starts after it)';

        -- Synced tables in apply order, with the schema FieldSync carries.
        CREATE TABLE sync_control.synced_tables (
            table_name VARCHAR(128) PRIMARY KEY,
            schema_json text NOT NULL,
            position integer NOT NULL,
            direction VARCHAR(20) NOT NULL DEFAULT 'bidirectional',
            added_at timestamptz NOT NULL DEFAULT now()
        );

        -- Per site and table: positions, rows sent, priority, direction, filter.
        CREATE TABLE sync_control.table_sync_state (
            client_id VARCHAR(64) NOT NULL,
            table_name VARCHAR(128) NOT NULL,
            last_synced_version BIGINT DEFAULT 0,
            last_synced_at TIMESTAMP WITH TIME ZONE,
            row_count_synced BIGINT DEFAULT 0,
            sync_priority INTEGER DEFAULT 50,
            sync_direction VARCHAR(20) DEFAULT 'bidirectional',
            sync_filter TEXT,
            PRIMARY KEY (client_id, table_name),
            FOREIGN KEY (client_id) REFERENCES sync_control.client_state(client_id)
        );

        -- One row per operation (export, ingest, skipped, error, conflict), with duration and row count.
        CREATE TABLE sync_control.sync_log (
            log_id BIGSERIAL PRIMARY KEY,
            client_id VARCHAR(64),
            operation VARCHAR(50) NOT NULL,
            table_name VARCHAR(128),
            rows_affected BIGINT,
            duration_ms INTEGER,
            status VARCHAR(20),
            error_message TEXT,
            created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
            message text
        );
        CREATE INDEX idx_sync_log_client_time ON sync_control.sync_log(client_id, created_at DESC);

        CREATE TABLE sync_control.conflict_rules (
            table_name VARCHAR(128) PRIMARY KEY,
            detection_method VARCHAR(50) NOT NULL,
            resolution_strategy VARCHAR(50) NOT NULL,
            priority_field VARCHAR(64),
            merge_fields TEXT[],
            notify_on_conflict BOOLEAN DEFAULT TRUE
        );

        -- Conflicts for staff to review: 'pending' until someone sets status to 'resolved'.
        CREATE TABLE sync_control.conflict_notifications (
            notification_id BIGSERIAL PRIMARY KEY,
            table_name VARCHAR(128) NOT NULL,
            record_id TEXT NOT NULL,
            client_id VARCHAR(64) NOT NULL,
            details JSONB,
            status VARCHAR(20) DEFAULT 'pending',
            created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
            resolved_at TIMESTAMP WITH TIME ZONE
        );
        CREATE INDEX conflict_notifications_client ON sync_control.conflict_notifications (client_id, status);

        -- Bundles applied from sites ('in') and return bundles written ('out').
        CREATE TABLE sync_control.bundles (
            bundle_id text PRIMARY KEY,
            client_id VARCHAR(64) NOT NULL,
            sequence bigint NOT NULL,
            direction text NOT NULL,
            status text NOT NULL,
            rows bigint NOT NULL DEFAULT 0,
            conflicts bigint NOT NULL DEFAULT 0,
            rejected bigint NOT NULL DEFAULT 0,
            at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX bundles_client ON sync_control.bundles (client_id, direction, sequence);

        -- Every conflict with both versions: the site's (incoming) and the hub's row that was kept.
        CREATE TABLE sync_control.conflicts (
            id BIGSERIAL PRIMARY KEY,
            client_id VARCHAR(64) NOT NULL,
            table_name VARCHAR(128) NOT NULL,
            pk text NOT NULL,
            origin_seq bigint NOT NULL,
            bundle_id text NOT NULL,
            base_version bigint NOT NULL,
            hub_version bigint NOT NULL,
            hub_origin VARCHAR(64),
            incoming json NOT NULL,
            hub_row json NOT NULL,
            rule text NOT NULL,
            decision text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            return_sequence bigint
        );
        CREATE INDEX conflicts_client ON sync_control.conflicts (client_id, return_sequence);

        -- Rows a site sent that the hub could not store, with the reason.
        CREATE TABLE sync_control.rejected_rows (
            id BIGSERIAL PRIMARY KEY,
            client_id VARCHAR(64) NOT NULL,
            table_name VARCHAR(128) NOT NULL,
            pk text NOT NULL,
            origin_seq bigint NOT NULL,
            bundle_id text NOT NULL,
            reason text NOT NULL,
            incoming json NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            return_sequence bigint,
            correct boolean NOT NULL DEFAULT true
        );
        CREATE INDEX rejected_rows_client ON sync_control.rejected_rows (client_id, return_sequence);

        -- Rows to send a site again (it judged a hub change against an older copy).
        CREATE TABLE sync_control.resend_rows (
            id BIGSERIAL PRIMARY KEY,
            client_id VARCHAR(64) NOT NULL,
            table_name VARCHAR(128) NOT NULL,
            pk text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            return_sequence bigint
        );
        CREATE INDEX resend_rows_client ON sync_control.resend_rows (client_id, return_sequence);

        -- The return watermark: (next transaction id, last version) pairs read at plan time. Once every transaction
        -- older than xid_horizon has ended, every version up to last_version is final (see docs).
        CREATE TABLE sync_control.version_horizons (
            xid_horizon xid8 NOT NULL,
            last_version bigint NOT NULL,
            taken_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX version_horizons_xid ON sync_control.version_horizons (xid_horizon);

        CREATE DOMAIN sync_control.timestamptz_text AS text CHECK (VALUE IS NULL OR VALUE::timestamptz IS NOT NULL);

        -- Stamps a version on every insert and every update that changes something (HQ staff and FieldSync alike).
        -- TG_ARGV holds the primary-key columns. While FieldSync ingests a bundle (fieldsync.applying set in the
        -- transaction) the row is stamped with the sending site as origin.
        CREATE FUNCTION sync_control.stamp_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
            applying text := nullif(current_setting('fieldsync.applying', true), '');
            probe record;
        BEGIN
            IF TG_OP = 'UPDATE' AND applying IS NULL THEN
                probe := NEW;
                probe.sync_version := OLD.sync_version;
                probe.sync_modified_at := OLD.sync_modified_at;
                probe.sync_origin_client := OLD.sync_origin_client;
                IF probe::text IS NOT DISTINCT FROM OLD::text THEN
                    -- Nothing changed: not a new version (and the sync columns are not for hand edits).
                    NEW.sync_version := OLD.sync_version;
                    NEW.sync_modified_at := OLD.sync_modified_at;
                    NEW.sync_origin_client := OLD.sync_origin_client;
                    RETURN NEW;
                END IF;
            END IF;
            -- The transaction id is assigned before the version is taken: the return watermark relies on it.
            PERFORM pg_current_xact_id();
            NEW.sync_version := nextval('sync_control.version_seq');
            NEW.sync_modified_at := now();
            NEW.sync_origin_client := applying;
            RETURN NEW;
        END
        $fn$;

        -- After an update that changed the primary key, the old key leaves a tombstone, so the sites delete it.
        CREATE FUNCTION sync_control.tombstone_old_key() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
            tomb record;
        BEGIN
            IF nullif(current_setting('fieldsync.applying', true), '') IS NOT NULL THEN
                RETURN NULL;
            END IF;
            FOR i IN 0 .. TG_NARGS - 1 LOOP
                IF (to_jsonb(OLD) -> TG_ARGV[i]) IS DISTINCT FROM (to_jsonb(NEW) -> TG_ARGV[i]) THEN
                    tomb := OLD;
                    tomb.sync_deleted := true;
                    EXECUTE format('INSERT INTO %s SELECT ($1).* ON CONFLICT DO NOTHING', TG_RELID::regclass)
                        USING tomb;
                    RETURN NULL;
                END IF;
            END LOOP;
            RETURN NULL;
        END
        $fn$;

        -- A DELETE becomes a tombstone (sync_deleted = true, which stamps a version) and the row stays.
        CREATE FUNCTION sync_control.keep_tombstone() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
            condition text;
        BEGIN
            SELECT string_agg(format('%I = ($1).%I', k, k), ' AND ') INTO condition FROM unnest(TG_ARGV) AS k;
            EXECUTE format('UPDATE %s SET sync_deleted = true WHERE %s AND NOT sync_deleted', TG_RELID::regclass,
                           condition) USING OLD;
            RETURN NULL;
        END
        $fn$;

        CREATE FUNCTION sync_control.refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            RAISE EXCEPTION 'TRUNCATE of synced table % is refused: the sites would never hear of it; use DELETE, '
                'which leaves tombstones', TG_TABLE_NAME;
        END
        $fn$;

        -- Hub changes in the site's tables that the site has not acknowledged yet.
        CREATE FUNCTION sync_control.pending_rows(site text) RETURNS bigint LANGUAGE plpgsql STABLE AS $fn$
        DECLARE
            acked bigint;
            total bigint := 0;
            counted bigint;
            t record;
        BEGIN
            SELECT last_sync_version INTO acked FROM sync_control.client_state WHERE client_id = site;
            FOR t IN SELECT s.table_name, h.value AS data_schema FROM sync_control.synced_tables s
                     CROSS JOIN sync_control.hub_settings h WHERE h.key = 'data_schema' LOOP
                EXECUTE format('SELECT count(*) FROM %I.%I WHERE sync_version > $1 '
                               'AND (sync_origin_client IS NULL OR sync_origin_client <> $2)',
                               t.data_schema, t.table_name)
                    INTO counted USING coalesce(acked, 0), site;
                total := total + counted;
            END LOOP;
            RETURN total;
        END
        $fn$;

        CREATE VIEW sync_control.sync_health AS
        SELECT
            cs.client_id,
            cs.client_name,
            cs.last_sync_timestamp,
            EXTRACT(EPOCH FROM (NOW() - cs.last_sync_timestamp))/3600 AS hours_since_sync,
            cs.sync_status,
            sync_control.pending_rows(cs.client_id) AS pending_changes,
            (SELECT count(*) FROM sync_control.conflict_notifications n
              WHERE n.client_id = cs.client_id AND n.status = 'pending') AS unresolved_conflicts,
            (SELECT count(*) FROM sync_control.rejected_rows r WHERE r.client_id = cs.client_id) AS rejected_rows
        FROM sync_control.client_state cs;

        CREATE VIEW sync_control.sync_metrics AS
        SELECT
            client_id,
            DATE(created_at) AS sync_date,
            COUNT(*) AS sync_operations,
            SUM(rows_affected) AS total_rows,
            AVG(duration_ms) AS avg_duration_ms,
            COUNT(CASE WHEN status = 'error' THEN 1 END) AS errors
        FROM sync_control.sync_log
        WHERE created_at > NOW() - INTERVAL '30 days'
        GROUP BY client_id, DATE(created_at);

        CREATE FUNCTION sync_control.check_sync_alerts()
        RETURNS TABLE (alert_type VARCHAR, client_id VARCHAR, message TEXT) LANGUAGE plpgsql STABLE AS $fn$
        BEGIN
            RETURN QUERY
            SELECT 'sync_stale'::VARCHAR, cs.client_id,
                   format('Client %s has not synced in %s hours', cs.client_name,
                          ROUND(EXTRACT(EPOCH FROM (NOW() - cs.last_sync_timestamp))/3600))
            FROM sync_control.client_state cs
            WHERE cs.last_sync_timestamp < NOW() - INTERVAL '24 hours';

            -- Conflict lines in sync_log carry the number of conflicts of one bundle in rows_affected.
            RETURN QUERY
            SELECT 'high_conflicts'::VARCHAR, sl.client_id,
                   format('Client %s has %s conflicts in the last 7 days', sl.client_id, sl.conflict_count)
            FROM (SELECT l.client_id, SUM(coalesce(l.rows_affected, 1)) AS conflict_count
                  FROM sync_control.sync_log l
                  WHERE l.status = 'conflict' AND l.created_at > NOW() - INTERVAL '7 days'
                  GROUP BY l.client_id HAVING SUM(coalesce(l.rows_affected, 1)) > 10) sl;

            RETURN QUERY
            SELECT 'sync_errors'::VARCHAR, sl.client_id,
                   format('Client %s has %s sync errors in last 24 hours', sl.client_id, sl.error_count)
            FROM (SELECT l.client_id, COUNT(*) AS error_count
                  FROM sync_control.sync_log l
                  WHERE l.status = 'error' AND l.created_at > NOW() - INTERVAL '24 hours'
                  GROUP BY l.client_id HAVING COUNT(*) > 5) sl;
        END
        $fn$;
        """

    /// Migration 2: per-table conflict rules (`merge_fallback`), conflicts with the base row, contested columns,
    /// edit times and a person's decision, set-aside rows that can be retried, notifications with their delivery,
    /// edit times kept on rows written from a site, and the history trigger of `field_merge` tables.
    static let conflictRules = """
        ALTER TABLE sync_control.conflict_rules ADD COLUMN merge_fallback VARCHAR(50);
        -- A table without a rule of its own does not notify (existing rows keep what they say).
        ALTER TABLE sync_control.conflict_rules ALTER COLUMN notify_on_conflict SET DEFAULT false;

        ALTER TABLE sync_control.conflicts
            ADD COLUMN base_row json,
            ADD COLUMN contested json NOT NULL DEFAULT '[]',
            ADD COLUMN site_time text,
            ADD COLUMN hub_time text,
            ADD COLUMN resolved_at timestamptz,
            ADD COLUMN resolution json,
            ADD COLUMN resolved_return_sequence bigint;
        -- hub_row becomes a row like incoming ({"op": "U", "values": {...}}); it was an array in the column order of
        -- incoming, empty for a tombstone (which now names its key columns).
        UPDATE sync_control.conflicts c SET hub_row = CASE
            WHEN json_array_length(c.hub_row) = 0 THEN json_build_object('op', 'D', 'values', coalesce(
                (SELECT json_object_agg(k.name, c.pk::json -> (k.n::int - 1) ORDER BY k.n)
                 FROM sync_control.synced_tables t,
                      json_array_elements_text(t.schema_json::json -> 'primary_key') WITH ORDINALITY AS k(name, n)
                 WHERE t.table_name = c.table_name), '{}'::json))
            ELSE json_build_object('op', 'U', 'values', coalesce(
                (SELECT json_object_agg(f.key, c.hub_row -> (f.n::int - 1) ORDER BY f.n)
                 FROM json_each(c.incoming -> 'values') WITH ORDINALITY AS f(key, value, n)), '{}'::json))
            END
        WHERE json_typeof(c.hub_row) = 'array';

        ALTER TABLE sync_control.rejected_rows
            ADD COLUMN base_version bigint NOT NULL DEFAULT 0,
            ADD COLUMN changed json,
            ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'set_aside',
            ADD COLUMN retried_at timestamptz,
            ADD COLUMN attempts integer NOT NULL DEFAULT 0;

        ALTER TABLE sync_control.conflict_notifications
            ADD COLUMN conflict_id bigint,
            ADD COLUMN delivery VARCHAR(20) NOT NULL DEFAULT 'pending',
            ADD COLUMN attempts integer NOT NULL DEFAULT 0,
            ADD COLUMN next_attempt_at timestamptz,
            ADD COLUMN last_error text,
            ADD COLUMN sent_at timestamptz;
        -- Notifications made before delivery existed were for review in this table: they are not sent now.
        UPDATE sync_control.conflict_notifications SET delivery = 'sent',
            conflict_id = CASE WHEN details ->> 'conflict_id' ~ '^[0-9]{1,18}$'
                               THEN (details ->> 'conflict_id')::bigint END;
        CREATE INDEX conflict_notifications_delivery
            ON sync_control.conflict_notifications (delivery, next_attempt_at);
        CREATE INDEX conflict_notifications_conflict ON sync_control.conflict_notifications (conflict_id);

        -- As before, and: while FieldSync applies a bundle, a sync_modified_at it supplies (the edit time of the
        -- site's change, on the hub's clock) is kept; everyone else's rows get now().
        CREATE OR REPLACE FUNCTION sync_control.stamp_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
            applying text := nullif(current_setting('fieldsync.applying', true), '');
            probe record;
        BEGIN
            IF TG_OP = 'UPDATE' AND applying IS NULL THEN
                probe := NEW;
                probe.sync_version := OLD.sync_version;
                probe.sync_modified_at := OLD.sync_modified_at;
                probe.sync_origin_client := OLD.sync_origin_client;
                IF probe::text IS NOT DISTINCT FROM OLD::text THEN
                    -- Nothing changed: not a new version (and the sync columns are not for hand edits).
                    NEW.sync_version := OLD.sync_version;
                    NEW.sync_modified_at := OLD.sync_modified_at;
                    NEW.sync_origin_client := OLD.sync_origin_client;
                    RETURN NEW;
                END IF;
            END IF;
            -- The transaction id is assigned before the version is taken: the return watermark relies on it.
            PERFORM pg_current_xact_id();
            NEW.sync_version := nextval('sync_control.version_seq');
            IF applying IS NULL OR NEW.sync_modified_at IS NULL
                OR (TG_OP = 'UPDATE' AND NEW.sync_modified_at IS NOT DISTINCT FROM OLD.sync_modified_at) THEN
                NEW.sync_modified_at := now();
            END IF;
            NEW.sync_origin_client := applying;
            RETURN NEW;
        END
        $fn$;

        -- Keeps the row as it was before an update that gave it a new version, for field_merge's base rows.
        -- TG_ARGV: the history table (in sync_control), then the columns to keep. Runs as its owner, so staff
        -- editing a synced table need no rights on the history table.
        CREATE FUNCTION sync_control.keep_history() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
            SET search_path = pg_catalog AS $fn$
        DECLARE
            columns text;
        BEGIN
            SELECT string_agg(quote_ident(c), ', ') INTO columns FROM unnest(TG_ARGV[1:]) AS c;
            EXECUTE format('INSERT INTO sync_control.%I (%s) SELECT %s FROM (SELECT ($1).*) AS old_row',
                           TG_ARGV[0], columns, columns) USING OLD;
            RETURN NULL;
        END
        $fn$;

        -- Rows set aside that are still waiting (a retried one is kept, with status 'applied').
        CREATE OR REPLACE VIEW sync_control.sync_health AS
        SELECT
            cs.client_id,
            cs.client_name,
            cs.last_sync_timestamp,
            EXTRACT(EPOCH FROM (NOW() - cs.last_sync_timestamp))/3600 AS hours_since_sync,
            cs.sync_status,
            sync_control.pending_rows(cs.client_id) AS pending_changes,
            (SELECT count(*) FROM sync_control.conflict_notifications n
              WHERE n.client_id = cs.client_id AND n.status = 'pending') AS unresolved_conflicts,
            (SELECT count(*) FROM sync_control.rejected_rows r
              WHERE r.client_id = cs.client_id AND r.status = 'set_aside') AS rejected_rows
        FROM sync_control.client_state cs;
        """

    /// Migration 4: bundles the hub refused (with the sender they claim, and whether its key checked the
    /// signature); `pending_rows()` leaving out a table registered under a reserved name; `sync_health.unresolved_conflicts` counting the conflicts that wait for a decision (a manual
    /// rule's) besides the notifications staff have not marked resolved, each conflict once; and a `DELETE` of a
    /// row that rows of another table still reference through a foreign key refused (it becomes a tombstone, which
    /// PostgreSQL's own foreign-key check never sees, and the sites holding those rows would refuse the delete).
    static let refusals = """
        CREATE TABLE sync_control.refused_bundles (
            id BIGSERIAL PRIMARY KEY,
            client_id VARCHAR(64),
            verified boolean NOT NULL,
            bundle_id text,
            source text NOT NULL,
            reason text NOT NULL,
            refused_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX refused_bundles_client ON sync_control.refused_bundles (client_id, id);
        COMMENT ON COLUMN sync_control.refused_bundles.client_id IS
            'the sending site; when verified is false, only the id the file claims';

        CREATE INDEX conflicts_pending ON sync_control.conflicts (client_id) WHERE decision = 'pending';

        -- As before, leaving out a table registered under a name FieldSync keeps for itself (never synced).
        CREATE OR REPLACE FUNCTION sync_control.pending_rows(site text) RETURNS bigint LANGUAGE plpgsql STABLE AS $fn$
        DECLARE
            acked bigint;
            total bigint := 0;
            counted bigint;
            t record;
        BEGIN
            SELECT last_sync_version INTO acked FROM sync_control.client_state WHERE client_id = site;
            FOR t IN SELECT s.table_name, h.value AS data_schema FROM sync_control.synced_tables s
                     CROSS JOIN sync_control.hub_settings h WHERE h.key = 'data_schema'
                     AND s.table_name !~* '^(_fieldsync|fieldsync_|sqlite_|pg_)'
                     AND lower(s.table_name) NOT IN ('sync_control', 'information_schema') LOOP
                EXECUTE format('SELECT count(*) FROM %I.%I WHERE sync_version > $1 '
                               'AND (sync_origin_client IS NULL OR sync_origin_client <> $2)',
                               t.data_schema, t.table_name)
                    INTO counted USING coalesce(acked, 0), site;
                total := total + counted;
            END LOOP;
            RETURN total;
        END
        $fn$;

        -- As before, and: a row that rows of another table still reference (a foreign key declared at the hub) is
        -- not deleted; the error names the row's key and both tables. Tombstoned child rows reference nothing.
        CREATE OR REPLACE FUNCTION sync_control.keep_tombstone() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
            condition text;
            ref record;
            referenced boolean;
            row_key text;
        BEGIN
            FOR ref IN
                SELECT c.conrelid::regclass::text AS child,
                       string_agg(format('%I = ($1).%I', ca.attname, pa.attname), ' AND ') AS matches,
                       string_agg(quote_ident(ca.attname), ', ') AS columns,
                       EXISTS (SELECT 1 FROM pg_attribute d WHERE d.attrelid = c.conrelid
                               AND d.attname = 'sync_deleted' AND NOT d.attisdropped) AS synced
                FROM pg_constraint c
                CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(child_column, parent_column)
                JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_column
                JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_column
                WHERE c.contype = 'f' AND c.confrelid = TG_RELID
                GROUP BY c.oid, c.conrelid
            LOOP
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %s%s)', ref.child, ref.matches,
                               CASE WHEN ref.synced THEN ' AND NOT sync_deleted' ELSE '' END)
                    INTO referenced USING OLD;
                IF referenced THEN
                    SELECT json_agg(to_jsonb(OLD) -> k.name ORDER BY k.n)::text INTO row_key
                        FROM unnest(TG_ARGV) WITH ORDINALITY AS k(name, n);
                    RAISE EXCEPTION 'row % of table % is still referenced by rows of table % (%)', row_key,
                        TG_TABLE_NAME, ref.child, ref.columns
                        USING ERRCODE = 'foreign_key_violation',
                              HINT = 'delete or change those rows first; the sites that hold them would refuse '
                                  'the delete';
                END IF;
            END LOOP;
            SELECT string_agg(format('%I = ($1).%I', k, k), ' AND ') INTO condition FROM unnest(TG_ARGV) AS k;
            EXECUTE format('UPDATE %s SET sync_deleted = true WHERE %s AND NOT sync_deleted', TG_RELID::regclass,
                           condition) USING OLD;
            RETURN NULL;
        END
        $fn$;

        CREATE OR REPLACE VIEW sync_control.sync_health AS
        SELECT
            cs.client_id,
            cs.client_name,
            cs.last_sync_timestamp,
            EXTRACT(EPOCH FROM (NOW() - cs.last_sync_timestamp))/3600 AS hours_since_sync,
            cs.sync_status,
            sync_control.pending_rows(cs.client_id) AS pending_changes,
            (SELECT count(*) FROM sync_control.conflicts c
              WHERE c.client_id = cs.client_id AND c.decision = 'pending')
            + (SELECT count(*) FROM sync_control.conflict_notifications n
              WHERE n.client_id = cs.client_id AND n.status = 'pending'
                AND NOT EXISTS (SELECT 1 FROM sync_control.conflicts c
                                WHERE c.id = n.conflict_id AND c.decision = 'pending')) AS unresolved_conflicts,
            (SELECT count(*) FROM sync_control.rejected_rows r
              WHERE r.client_id = cs.client_id AND r.status = 'set_aside') AS rejected_rows
        FROM sync_control.client_state cs;
        """
}
