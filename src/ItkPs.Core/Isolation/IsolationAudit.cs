using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Isolation;

/// <summary>What an isolation finding is about. Stable names: scripts and tests match on them.</summary>
public enum IsolationProblem
{
    /// <summary>Others (not owner, not group) can read the file or enter the directory.</summary>
    WorldReadable,
    /// <summary>Others can write it.</summary>
    WorldWritable,
    /// <summary>Readable through a group that someone other than the vhost user belongs to.</summary>
    GroupReadableByOthers,
    /// <summary>Owned by a user other than the vhost's.</summary>
    OwnerMismatch,
    /// <summary>A symbolic link that points outside the DocumentRoot.</summary>
    SymlinkOutsideRoot,
    /// <summary>The DocumentRoot is missing or the vhost's user cannot be resolved.</summary>
    Unusable,
}

/// <summary>One finding of <see cref="IsolationAuditor"/>: what, where, and the command that fixes it.</summary>
public sealed record IsolationFinding(string Vhost, string Path, IsolationProblem Problem, bool Sensitive, string Detail, string Fix)
{
    /// <summary>High for secrets (.htpasswd, PHP, configs) exposed to others or for an unusable vhost.</summary>
    public string Severity => Sensitive || Problem is IsolationProblem.Unusable or IsolationProblem.WorldWritable ? "High" : "Medium";
}

/// <summary>
/// Audits a vhost's DocumentRoot for what would let another tenant read it: the promise of
/// per-user isolation only holds if the files are not readable by others in the first place.
/// Reads metadata only (lstat); never follows symlinks.
/// </summary>
public static class IsolationAuditor
{
    private static readonly string[] SensitiveNames = [".htpasswd", ".htaccess", ".htgroup", ".env", ".user.ini", "php.ini", "wp-config.php", "config.php", "settings.php", "configuration.php", "local.xml"];
    private static readonly string[] SensitiveExtensions = [".php", ".phtml", ".inc", ".ini", ".conf", ".cnf", ".cfg", ".yml", ".yaml", ".json", ".env", ".sql", ".key", ".pem", ".passwd"];

    /// <summary>Files whose content is a secret or code, not a page: passwords, configs, PHP source.</summary>
    public static bool IsSensitive(string fileName)
    {
        string name = fileName.ToLowerInvariant();
        return SensitiveNames.Contains(name) || name.StartsWith(".ht", StringComparison.Ordinal) || SensitiveExtensions.Any(name.EndsWith);
    }

    public static IEnumerable<IsolationFinding> Audit(VirtualHost vh, IAccountDatabase accounts)
    {
        string label = vh.Name.Length > 0 ? vh.Name : vh.Listen;
        var user = vh.User is null ? null : accounts.FindUser(vh.User);
        var group = vh.Group is null ? null : accounts.FindGroup(vh.Group);
        if (user is null || group is null)
        {
            yield return new IsolationFinding(label, vh.DocumentRoot ?? "", IsolationProblem.Unusable, false,
                $"user '{vh.User}' or group '{vh.Group}' does not exist", $"Set-ItkUser -Name {label} -User <user> -CreateUser");
            yield break;
        }
        if (vh.DocumentRoot is null || !Directory.Exists(vh.DocumentRoot))
        {
            yield return new IsolationFinding(label, vh.DocumentRoot ?? "", IsolationProblem.Unusable, false,
                "DocumentRoot does not exist", $"mkdir -p '{vh.DocumentRoot}'");
            yield break;
        }

        // Who besides the vhost user can read through a group: its listed members and
        // everyone whose primary group it is. Cached per gid for the walk.
        var othersInGroup = new Dictionary<uint, List<string>>();
        List<string> Others(uint gid)
        {
            if (!othersInGroup.TryGetValue(gid, out var list))
            {
                var g = accounts.FindGroup(gid);
                list = (g?.Members ?? []).Concat(accounts.UsersWithPrimaryGroup(gid)).Distinct().Where(n => n != user.Name).ToList();
                othersInGroup[gid] = list;
            }
            return list;
        }

        string root = Path.GetFullPath(vh.DocumentRoot);
        string owner = $"{user.Name}:{group.Name}";
        var findings = new List<IsolationFinding>();
        bool first = true;
        try
        {
            TreeWalker.Walk(root, e =>
            {
                if (first) { root = e.Path; first = false; } // the real path: links judged against it
                findings.AddRange(Examine(e));
            });
        }
        catch (IOException e) { findings.Add(new IsolationFinding(label, root, IsolationProblem.Unusable, false, e.Message, $"ls -ld '{root}'")); }
        foreach (var f in findings) yield return f;

        IEnumerable<IsolationFinding> Examine(TreeEntry e)
        {
            var st = e.Stat;
            string path = e.Path;
            bool isDir = e.IsDirectory;
            bool sensitive = !isDir && IsSensitive(Path.GetFileName(path));
            var mode = (uint)st.st_mode & 0x1FF;
            string q = $"'{path}'";

            if (e.IsSymlink)
            {
                string? text = TreeWalker.LinkText(e);
                string? target = text is null ? null : ResolveLink(path, text);
                if (target is null || !(target == root || target.StartsWith(root + "/", StringComparison.Ordinal)))
                    yield return new IsolationFinding(label, path, IsolationProblem.SymlinkOutsideRoot, false,
                        $"links to '{target ?? "?"}', outside the DocumentRoot", $"rm {q}");
                yield break;
            }

            if (st.st_uid != user.Uid)
            {
                string actual = accounts.FindUser(st.st_uid)?.Name ?? st.st_uid.ToString();
                yield return new IsolationFinding(label, path, IsolationProblem.OwnerMismatch, sensitive,
                    $"owned by {actual}, not {user.Name}", $"chown {owner} {q}");
            }
            if ((mode & 0b000_000_010) != 0)
                yield return new IsolationFinding(label, path, IsolationProblem.WorldWritable, sensitive,
                    $"mode {Convert.ToString(mode, 8)}: anyone can change it", $"chmod o-w {q}");
            if ((mode & (isDir ? 0b101u : 0b100u)) != 0)
                yield return new IsolationFinding(label, path, IsolationProblem.WorldReadable, sensitive,
                    $"mode {Convert.ToString(mode, 8)}: every user on the machine can {(isDir ? "enter it" : "read it")}",
                    $"chmod o-rwx {q}");
            if ((mode & (isDir ? 0b101_000u : 0b100_000u)) != 0 && Others(st.st_gid) is { Count: > 0 } others)
            {
                string gname = accounts.FindGroup(st.st_gid)?.Name ?? st.st_gid.ToString();
                yield return new IsolationFinding(label, path, IsolationProblem.GroupReadableByOthers, sensitive,
                    $"group {gname} can read it, and {string.Join(", ", others.Take(5))}{(others.Count > 5 ? ", ..." : "")} belong(s) to it",
                    st.st_gid == group.Gid ? $"chmod g-rwx {q}" : $"chgrp {group.Name} {q}");
            }
        }
    }

    /// <summary>
    /// Where a link leads, for the report: its text taken relative to its directory, then the
    /// rest of the way as the kernel would go (metadata only; nothing is opened through it).
    /// </summary>
    private static string? ResolveLink(string path, string text)
    {
        string first = Path.GetFullPath(text, Path.GetDirectoryName(path)!);
        try { return new FileInfo(first).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? first; }
        catch (IOException) { return first; }
    }
}
