using ItkPs.Core.Unix;

namespace ItkPs.Core.Config;

/// <summary>
/// The checks apachectl -t would make with mpm-itk loaded, plus the ones itkd needs:
/// users and groups exist, never uid/gid 0, ids inside LimitUIDRange/LimitGIDRange,
/// DocumentRoot exists, no ServerName twice on one address, MaxClientsVHost positive,
/// NiceValue inside -20..19 (clamped, with a warning, as mpm-itk does).
/// </summary>
public static class ConfigValidator
{
    public static IReadOnlyList<ConfigDiagnostic> Validate(ServerConfig config, IAccountDatabase accounts, bool checkFiles = true)
    {
        var found = new List<ConfigDiagnostic>();
        foreach (var vh in config.VirtualHosts)
        {
            // Each finding points at the directive it is about (as apachectl -t does), else at the <VirtualHost>.
            void Error(string m, string? directive = null) => found.Add(At(DiagnosticSeverity.Error, vh, directive, m));
            void Warn(string m, string? directive = null) => found.Add(At(DiagnosticSeverity.Warning, vh, directive, m));

            if (vh.User is null || vh.Group is null)
                Error("no AssignUserID and no server User/Group to fall back to: its requests would have no user to run as.");
            else
            {
                var user = accounts.FindUser(vh.User);
                var group = accounts.FindGroup(vh.Group);
                string from = vh.AssignedUser is null ? " (from the server's User/Group)" : "";
                string? assign = vh.AssignedUser is null ? null : "AssignUserID";
                if (user is null) Error($"user '{vh.User}'{from} does not exist (create it, e.g. Set-ItkUser -CreateUser).", assign);
                else if (user.Uid == 0) Error($"user '{vh.User}'{from} has uid 0: requests never run as root.", assign);
                else if (user.Uid < config.UidRange.Min || user.Uid > config.UidRange.Max)
                    Error($"user '{vh.User}' has uid {user.Uid}, outside LimitUIDRange {config.UidRange.Min}-{config.UidRange.Max}.", assign);
                if (group is null) Error($"group '{vh.Group}'{from} does not exist.", assign);
                else if (group.Gid == 0) Error($"group '{vh.Group}'{from} has gid 0: requests never run with the root group.", assign);
                else if (group.Gid < config.GidRange.Min || group.Gid > config.GidRange.Max)
                    Error($"group '{vh.Group}' has gid {group.Gid}, outside LimitGIDRange {config.GidRange.Min}-{config.GidRange.Max}.", assign);
            }

            if (vh.DocumentRoot is null) Warn("no DocumentRoot: it would serve the server's own.");
            else if (checkFiles && !Directory.Exists(vh.DocumentRoot)) Error($"DocumentRoot '{vh.DocumentRoot}' does not exist or is not a directory.", "DocumentRoot");

            if (checkFiles)
                foreach (var (path, directive) in new[] { (vh.CustomLog, "CustomLog"), (vh.ErrorLog, "ErrorLog") })
                    if (path is not null && !path.StartsWith('|') && PathSafety.UntrustedWriter(path, accounts) is { } w)
                        Warn($"{directive} {path}: {w}, so itkd will not open it as root: its worker opens it as {vh.User} (Apache would open it as root, letting that user point the log at any file).", directive);
            if (vh.MaxClients is int mc && mc <= 0) Error($"MaxClientsVHost {mc} must be greater than 0.", "MaxClientsVHost");
            if (vh.Nice is int nice && (nice < -20 || nice > 19))
                Warn($"NiceValue {nice} is outside -20..19 and will be clamped to {Math.Clamp(nice, -20, 19)}.", "NiceValue");
            if (vh.Name.Length == 0) Warn("no ServerName: it can only be reached as the first vhost of its address.");
        }

        // The same name twice on one address:port: Apache serves only the first, silently.
        var seen = new Dictionary<(string Address, string Name), VirtualHost>();
        foreach (var vh in config.VirtualHosts)
        {
            foreach (var name in new[] { vh.Name }.Concat(vh.Aliases).Where(n => n.Length > 0).Select(VhostSelector.NormalizeHost).Distinct())
            {
                foreach (var addr in vh.Addresses)
                {
                    var key = (addr.ToString(), name);
                    if (seen.TryGetValue(key, out var first))
                        found.Add(ConfigDiagnostic.Error(vh.File, vh.Line,
                            $"{Label(vh)}: '{name}' on {addr} is already used by the vhost at {first.File}:{first.Line}; Apache would never reach this one."));
                    else seen[key] = vh;
                }
            }
        }

        if (config.User is not null && accounts.FindUser(config.User) is { Uid: 0 })
        {
            var d = config.UserDirective!;
            found.Add(ConfigDiagnostic.Error(d.File, d.Line, $"User {config.User} is root: vhosts without AssignUserID would run as root (use an unprivileged account, e.g. User www-data)."));
        }
        return found;
    }

    private static ConfigDiagnostic At(DiagnosticSeverity severity, VirtualHost vh, string? directive, string message)
    {
        var (file, line) = directive is null ? (vh.File, vh.Line) : vh.Where(directive);
        return new ConfigDiagnostic(severity, file, line, $"{Label(vh)}: {message}");
    }

    private static string Label(VirtualHost vh) => vh.Name.Length > 0 ? $"vhost {vh.Name}" : $"vhost {vh.Listen}";
}
