using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Isolation;

/// <summary>One change that <see cref="PermissionFixer"/> made (or would make), or an entry it left alone and why.</summary>
public sealed record PermissionChange(string Path, string OldOwner, string NewOwner, string OldMode, string NewMode)
{
    /// <summary>Set when the entry was not changed: why (a file with other hard links).</summary>
    public string? Skipped { get; init; }
}

/// <summary>
/// Makes a DocumentRoot tree belong to the vhost's user and group and unreadable by others:
/// directories 0750, files 0640, files with the owner's x bit 0740 (CGI scripts keep working).
/// Runs as root over a tree the tenant can write, so it walks by directory descriptors
/// (<see cref="TreeWalker"/>) and changes each entry through the descriptor it examined: a
/// directory swapped for a symbolic link mid-walk can never lead it outside the tree. Symbolic
/// links get their own owner only; devices, fifos and sockets are left alone; a regular file with
/// more than one link is left alone too (its other name may be anywhere on the filesystem).
/// </summary>
public static class PermissionFixer
{
    public const uint DirectoryMode = 0b111_101_000;   // 0750
    public const uint FileMode = 0b110_100_000;        // 0640
    public const uint ExecutableMode = 0b111_100_000;  // 0740

    /// <summary>What the mode of an entry should be.</summary>
    public static uint TargetMode(bool isDirectory, uint currentMode) =>
        isDirectory ? DirectoryMode : (currentMode & 0b001_000_000) != 0 ? ExecutableMode : FileMode;

    /// <summary>Applies (or, with <paramref name="apply"/> false, only lists) the changes under root.</summary>
    public static List<PermissionChange> Fix(string root, UserAccount user, GroupAccount group, IAccountDatabase accounts, bool apply)
    {
        var changes = new List<PermissionChange>();
        string Owner(uint uid, uint gid) => $"{accounts.FindUser(uid)?.Name ?? uid.ToString()}:{accounts.FindGroup(gid)?.Name ?? gid.ToString()}";
        string newOwner = $"{user.Name}:{group.Name}";

        TreeWalker.Walk(root, e =>
        {
            var st = e.Stat;
            uint mode = (uint)st.st_mode & 0xFFF;
            bool ownerOk = st.st_uid == user.Uid && st.st_gid == group.Gid;
            if (e.IsSymlink)
            {
                if (ownerOk) return;
                changes.Add(new PermissionChange(e.Path, Owner(st.st_uid, st.st_gid), newOwner, "link", "link"));
                if (apply) TreeWalker.Chown(e, user.Uid, group.Gid);
                return;
            }
            if (!e.IsDirectory && !e.IsRegular) return; // devices, fifos, sockets: leave alone
            uint target = TargetMode(e.IsDirectory, mode);
            if (ownerOk && mode == target) return;
            string oldMode = Convert.ToString(mode, 8).PadLeft(4, '0'), newMode = Convert.ToString(target, 8).PadLeft(4, '0');
            if (e.IsRegular && st.st_nlink > 1)
            {
                changes.Add(new PermissionChange(e.Path, Owner(st.st_uid, st.st_gid), newOwner, oldMode, oldMode)
                    { Skipped = $"{st.st_nlink} hard links: another name may be outside the DocumentRoot; remove the extra links or fix it by hand" });
                return;
            }
            changes.Add(new PermissionChange(e.Path, Owner(st.st_uid, st.st_gid), newOwner, oldMode, newMode));
            if (!apply) return;
            if (!ownerOk) TreeWalker.Chown(e, user.Uid, group.Gid);
            TreeWalker.Chmod(e, target);
        });
        return changes;
    }
}
