# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_grokmon_global_optspecs
    string join \n config= h/help V/version
end

function __fish_grokmon_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_grokmon_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_grokmon_using_subcommand
    set -l cmd (__fish_grokmon_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c grokmon -n "__fish_grokmon_needs_command" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_needs_command" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_needs_command" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "check" -d 'Probe API, CPU, RAM, disk, database, service and backups; log confirmed alerts'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "alerts" -d 'Review the alerts log'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "backup" -d 'Consistent, verified, compressed SQLite backups with retention'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "restart" -d 'A reviewed, confirmed, recorded restart of the service. Never automatic'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "status" -d 'One screen: service, last check, alerts, backups, trends'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "run" -d 'Run the resilient orchestrator (sensors, store, AI, health API)'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "units" -d 'Render, install and verify the systemd units'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "cron" -d 'Print the crontab lines equivalent to the systemd timers'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "man" -d 'Write the man pages into a directory (used to keep man/ in sync)'
complete -c grokmon -n "__fish_grokmon_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -l format -d 'Output format' -r -f -a "human\t'A table for a person'
json\t'One JSON document: every probe, status, value, thresholds, message'
nagios\t'One Nagios plugin status line with perfdata'"
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -l textfile -d 'Also write the results in Prometheus text format to PATH (atomically, for node_exporter\'s textfile collector, which reads only names ending in .prom: another name is refused)' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -s q -l quiet -d 'Print nothing when every probe is OK (cron mails any output)'
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -l stateless -d 'Probe and report only: neither read nor write the state database or the alerts log (no alert lines, no trends; CPU from a short sample). For a scheduler that keeps its own soft/hard states (Nagios, NRPE)'
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c grokmon -n "__fish_grokmon_using_subcommand check" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -f -a "tail" -d 'Show the last alerts (across rotated files)'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -f -a "ack" -d 'Mark every alert so far as reviewed'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -f -a "silence" -d 'Silence alerts for planned work (a maintenance window)'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and not __fish_seen_subcommand_from tail ack silence help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -s n -l lines -d 'How many events to show, the newest [default: 20; with --since or --unreviewed: all they select]' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -l since -d 'Only events since a duration ago (1h, 2d) or a time (2026-11-28T10:00:00Z)' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -l level -d 'Only events at this level or above' -r -f -a "warn\t'WARN and CRIT'
crit\t'CRIT only'"
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -l source -d 'Only events from this source (a probe, restart, backup, sensor.NAME, ai)' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -s f -l follow -d 'Keep printing new events as they are appended; survives rotation'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -l unreviewed -d 'Only events after the last `grokmon alerts ack`'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -l json -d 'One JSON object per line: ts, level, source, message'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from tail" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from ack" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from ack" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from ack" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -l reason -d 'Why (recorded in the alerts log). Required with DURATION' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -l source -d 'Only lines from this source (a probe, heartbeat, check, sensor, sensor.NAME, store, ai, backup); repeat for several. Default: all' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -l clear -d 'End silence ID, or every active silence without an ID' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -l list -d 'List the active silences'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from silence" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "tail" -d 'Show the last alerts (across rotated files)'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "ack" -d 'Mark every alert so far as reviewed'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "silence" -d 'Silence alerts for planned work (a maintenance window)'
complete -c grokmon -n "__fish_grokmon_using_subcommand alerts; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -f -a "create" -d 'Take a consistent backup now (the default), then apply retention'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -f -a "list" -d 'List backups, newest first'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -f -a "verify" -d 'Check a backup (default: the newest): integrity and row counts'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -f -a "prune" -d 'Delete backups older than the retention, always keeping the newest few'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -f -a "restore" -d 'Restore a backup over the database (verified first)'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune restore help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from create" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from list" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from list" -l json -d 'JSON output'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from verify" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from prune" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from prune" -l dry-run -d 'Show what would be kept and deleted, and why; delete nothing'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from restore" -l to -d 'Restore to this path instead of the configured database' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from restore" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from restore" -l yes -d 'Do not ask for confirmation'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from restore" -l force -d 'Restore even while the service is active'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from restore" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "create" -d 'Take a consistent backup now (the default), then apply retention'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "list" -d 'List backups, newest first'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check a backup (default: the newest): integrity and row counts'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete backups older than the retention, always keeping the newest few'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Restore a backup over the database (verified first)'
complete -c grokmon -n "__fish_grokmon_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand restart" -l reason -d 'Why the restart is needed; recorded in the alerts log' -r
complete -c grokmon -n "__fish_grokmon_using_subcommand restart" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand restart" -l yes -d 'Do not ask for confirmation (needs --reason when there is no terminal)'
complete -c grokmon -n "__fish_grokmon_using_subcommand restart" -l force -d 'Restart even while a restart is under way or within the cooldown'
complete -c grokmon -n "__fish_grokmon_using_subcommand restart" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand restart" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand status" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand status" -l json -d 'JSON output'
complete -c grokmon -n "__fish_grokmon_using_subcommand status" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand status" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand run" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c grokmon -n "__fish_grokmon_using_subcommand run" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -f -a "install" -d 'Render the units with the real binary path and install them'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -f -a "print" -d 'Print one rendered unit'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -f -a "verify" -d 'Check that the protections configured in the units are really in force'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and not __fish_seen_subcommand_from install print verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -l user -d 'Install for the current user (~/.config/systemd/user). The default'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -l system -d 'Install system-wide (/etc/systemd/system)'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -l dry-run -d 'Print every step without touching anything'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -l replace -d 'Replace (or override) a unit of the same name that runs another program; the replaced file is kept as NAME.grokmon-old, which systemd does not load'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -l timers-only -d 'Install only the check and backup services and timers, for a service grokmon only watches (set [service] unit to its name)'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from install" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from print" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from print" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from print" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from verify" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "install" -d 'Render the units with the real binary path and install them'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "print" -d 'Print one rendered unit'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check that the protections configured in the units are really in force'
complete -c grokmon -n "__fish_grokmon_using_subcommand units; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand cron" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand cron" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand cron" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand completions" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand completions" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand completions" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand man" -l config -d 'Configuration file (TOML). Default: $GROKMON_CONFIG, then $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml; no file at all means built-in defaults' -r -F
complete -c grokmon -n "__fish_grokmon_using_subcommand man" -s h -l help -d 'Print help'
complete -c grokmon -n "__fish_grokmon_using_subcommand man" -s V -l version -d 'Print version'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "check" -d 'Probe API, CPU, RAM, disk, database, service and backups; log confirmed alerts'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "alerts" -d 'Review the alerts log'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "backup" -d 'Consistent, verified, compressed SQLite backups with retention'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "restart" -d 'A reviewed, confirmed, recorded restart of the service. Never automatic'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "status" -d 'One screen: service, last check, alerts, backups, trends'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "run" -d 'Run the resilient orchestrator (sensors, store, AI, health API)'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "units" -d 'Render, install and verify the systemd units'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "cron" -d 'Print the crontab lines equivalent to the systemd timers'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "man" -d 'Write the man pages into a directory (used to keep man/ in sync)'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and not __fish_seen_subcommand_from check alerts backup restart status run units cron completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from alerts" -f -a "tail" -d 'Show the last alerts (across rotated files)'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from alerts" -f -a "ack" -d 'Mark every alert so far as reviewed'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from alerts" -f -a "silence" -d 'Silence alerts for planned work (a maintenance window)'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "create" -d 'Take a consistent backup now (the default), then apply retention'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "list" -d 'List backups, newest first'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "verify" -d 'Check a backup (default: the newest): integrity and row counts'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "prune" -d 'Delete backups older than the retention, always keeping the newest few'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "restore" -d 'Restore a backup over the database (verified first)'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from units" -f -a "install" -d 'Render the units with the real binary path and install them'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from units" -f -a "print" -d 'Print one rendered unit'
complete -c grokmon -n "__fish_grokmon_using_subcommand help; and __fish_seen_subcommand_from units" -f -a "verify" -d 'Check that the protections configured in the units are really in force'
