//! systemd units: `nightshift.service` for continuous mode, and `nightshift-once.service` +
//! `nightshift.timer` for scheduled mode, each preceded by a `# --- /etc/systemd/system/NAME ---`
//! line so the output can be split into files.

use std::net::SocketAddr;

use super::{GRACE_SECS, Install, STOP_TIMEOUT_SECS, quote};

/// The units; with `http`, the continuous service serves the HTTP API there (`run --http`).
pub fn render(i: &Install, http: Option<SocketAddr>) -> String {
    let exec = format!("{}{}", quote::systemd_arg(&i.exe), i.global_flags(quote::systemd_arg));
    let handler = i.handler_args(quote::systemd_word);
    format!(
        "# nightshift under systemd. Use ONE mode: the continuous service, or the timer (a second\n\
         # runner on the same database exits 3). Save each part under the path in its header, then:\n\
         #   continuous: systemctl daemon-reload && systemctl enable --now nightshift.service\n\
         #   scheduled:  systemctl daemon-reload && systemctl enable --now nightshift.timer\n\
         # Stop with `systemctl stop nightshift` (jobs in flight get --grace to finish); logs with\n\
         # `journalctl -u nightshift -f`. Check the files with `systemd-analyze verify`.\n\
         #\n\
         # ==================== continuous mode ====================\n\
         # --- /etc/systemd/system/nightshift.service ---\n\
         [Unit]\n\
         Description=nightshift job runner (continuous)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         # Restart limits belong in [Unit]: with RestartSec=5 the defaults (5 starts in 10s) are\n\
         # never reached and a crash loop would restart forever. 10 starts in 5 minutes, then\n\
         # the unit fails and `systemctl status nightshift` says so.\n\
         StartLimitIntervalSec=300\n\
         StartLimitBurst=10\n\
         \n\
         [Service]\n\
         Type=simple\n\
         {common}\
         {http_note}\
         ExecStart={exec} run --grace {grace}s{http_flag}{handler}\n\
         Restart=always\n\
         RestartSec=5\n\
         # SIGTERM to nightshift only (mixed): it stops claiming, lets jobs in flight finish within\n\
         # --grace {grace}s, then stops their process groups (SIGTERM, SIGKILL 5s later). systemd\n\
         # SIGKILLs whatever is left after TimeoutStopSec, which is above grace + 5s + a margin.\n\
         KillSignal=SIGTERM\n\
         KillMode=mixed\n\
         TimeoutStopSec={stop}s\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n\
         \n\
         # ==================== scheduled mode ====================\n\
         # --- /etc/systemd/system/nightshift-once.service ---\n\
         [Unit]\n\
         Description=nightshift: run every due job, then exit (started by nightshift.timer)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         {common}\
         ExecStart={exec} run --once{handler}\n\
         # A drain that hangs is stopped before the next tick is due.\n\
         TimeoutStartSec=14min\n\
         KillSignal=SIGTERM\n\
         KillMode=mixed\n\
         TimeoutStopSec={stop}s\n\
         \n\
         # --- /etc/systemd/system/nightshift.timer ---\n\
         [Unit]\n\
         Description=Run nightshift-once.service every 15 minutes\n\
         \n\
         [Timer]\n\
         OnCalendar=*:0/15\n\
         # A tick missed while the machine was off runs at the next boot.\n\
         Persistent=true\n\
         Unit=nightshift-once.service\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        common = common(i),
        http_note = http.map(http_note).unwrap_or_default(),
        http_flag = http.map(|addr| format!(" --http {addr}")).unwrap_or_default(),
        grace = GRACE_SECS,
        stop = STOP_TIMEOUT_SECS,
    )
}

/// What the continuous service says about its HTTP API: how to reach it, and the token.
fn http_note(addr: SocketAddr) -> String {
    let reach = if addr.ip().is_loopback() {
        format!(
            "# Reach it from a laptop through an SSH tunnel, nothing else opened:\n\
             #   ssh -N -L {port}:{addr} user@this-host   then   curl http://127.0.0.1:{port}/healthz\n\
             # A token is optional on loopback; with one, every request but /healthz needs\n\
             # `Authorization: Bearer <token>`.\n",
            port = addr.port()
        )
    } else {
        "# This address is beyond loopback: the runner refuses to start (exit 2) without a\n\
         # token, and plain HTTP carries it in clear: put a TLS proxy in front, or listen on\n\
         # 127.0.0.1 and use an SSH tunnel.\n"
            .to_owned()
    };
    format!(
        "# The HTTP API (`run --http {addr}`): status, enqueue, dead letter, pause, /metrics.\n\
         {reach}\
         # The token is a secret: NIGHTSHIFT_TOKEN=... (e.g. `openssl rand -hex 32`) goes in the\n\
         # EnvironmentFile above, never in this unit.\n"
    )
}

/// The `[Service]` lines both services share: user, directory, secrets and hardening.
fn common(i: &Install) -> String {
    let user = match &i.owner {
        Some(u) => format!("User={u}\n"),
        None => format!(
            "# User=nightshift   (create a user that owns {}; running as root works but is\n\
             #                    not recommended)\n",
            i.db_dir.display()
        ),
    };
    let home_note = if under_home(i) {
        "# The database is under a home directory: ProtectHome=read-only makes homes read-only\n\
         # and the ReadWritePaths= line above opens just the database's directory again.\n"
    } else {
        ""
    };
    let workdir_rw = if i.workdir == i.db_dir {
        String::new()
    } else {
        format!(
            "# ReadWritePaths={}   (uncomment if your handler writes in its working directory)\n",
            quote::systemd_path(&i.workdir)
        )
    };
    format!(
        "{user}\
         WorkingDirectory={workdir}\n\
         {handler}\
         # Secrets never go in a unit file (it is world-readable). Put\n\
         #   ALERT_WEBHOOK=https://...\n\
         #   HEARTBEAT_URL=https://hc-ping.com/<uuid>\n\
         #   DAILY_CAP_USD=1.00\n\
         # in /etc/nightshift/env (owned by root, chmod 0600) and uncomment:\n\
         # EnvironmentFile=/etc/nightshift/env\n\
         # Hardening. The handler inherits it: add any other directory it writes to\n\
         # ReadWritePaths= (space-separated).\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ReadWritePaths={db_dir}\n\
         {workdir_rw}\
         PrivateTmp=yes\n\
         ProtectHome=read-only\n\
         {home_note}",
        workdir = i.workdir.display().to_string().replace('%', "%%"),
        handler = i.handler_comment(),
        db_dir = quote::systemd_path(&i.db_dir),
    )
}

fn under_home(i: &Install) -> bool {
    ["/home", "/root", "/run/user"].iter().any(|h| i.db_dir.starts_with(h))
}
