using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Config;

/// <summary>
/// Whether a vhost's private key is held as itkd promises: readable by the vhost's user alone
/// (its worker opens it after dropping root), owned by that user or by root, and on a path no other
/// account can change. Metadata only — stat, lstat, readlink — so the master, which runs these
/// checks at start-up, never opens a key.
/// </summary>
public static class KeyFileCheck
{
    /// <summary>
    /// What is wrong with <paramref name="path"/> as the key of a vhost running as
    /// <paramref name="user"/>:<paramref name="group"/>; empty when nothing is. A root-owned key is
    /// accepted when the vhost's own group may read it and no other account is in that group
    /// (root:site 0640: the site reads it and cannot replace it).
    /// </summary>
    public static IEnumerable<string> Problems(string path, UserAccount user, GroupAccount group, IAccountDatabase accounts)
    {
        if (Syscall.stat(path, out var st) != 0)
        {
            yield return $"'{path}' cannot be read: {Stdlib.GetLastError()}.";
            yield break;
        }
        if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG)
        {
            yield return $"'{path}' is not a regular file.";
            yield break;
        }
        uint mode = (uint)st.st_mode & 0xfff;
        string octal = Convert.ToString(mode, 8).PadLeft(4, '0');
        bool byUser = st.st_uid == user.Uid, byRoot = st.st_uid == 0;
        if (!byUser && !byRoot)
            yield return $"'{path}' is owned by {Name(accounts.FindUser(st.st_uid)?.Name, st.st_uid)}: a vhost's key belongs to the vhost's user ({user.Name}) or to root (Set-ItkCertificate installs it so).";
        if ((mode & 0x4) != 0)
            yield return $"'{path}' is readable by everyone (mode {octal}): only the site may read its key; chmod 600 it.";
        bool groupReads = (mode & 0x20) != 0;
        bool privateGroup = st.st_gid == group.Gid && !OthersIn(group, user, accounts);
        if (groupReads && (mode & 0x4) == 0 && !(byRoot && privateGroup))
            yield return $"'{path}' is readable by the group {Name(accounts.FindGroup(st.st_gid)?.Name, st.st_gid)} (mode {octal}): only the site may read its key; chmod 600 it.";
        if ((mode & 0x12) != 0)
            yield return $"'{path}' is writable by {((mode & 0x2) != 0 ? "everyone" : "its group")} (mode {octal}): chmod 600 it.";
        if (byRoot && !(groupReads && st.st_gid == group.Gid))
            yield return $"'{path}' belongs to root with mode {octal}: the worker runs as {user.Name} and could not read it; install it for the site with Set-ItkCertificate.";
        if (byUser && (mode & 0x100) == 0)
            yield return $"'{path}' cannot be read by its owner {user.Name} (mode {octal}).";
        if (PathSafety.UntrustedWriter(path, accounts, user.Uid) is { } writer)
            yield return $"'{path}': {writer}, who could put another key in its place; keep the key in a directory of root or of {user.Name}.";
    }

    /// <summary>Someone besides <paramref name="user"/> is a member of the group or has it as primary group.</summary>
    private static bool OthersIn(GroupAccount group, UserAccount user, IAccountDatabase accounts) =>
        group.Members.Any(m => m != user.Name) || accounts.UsersWithPrimaryGroup(group.Gid).Any(m => m != user.Name);

    private static string Name(string? name, uint id) => name is null ? $"#{id}" : $"{name} ({id})";
}
