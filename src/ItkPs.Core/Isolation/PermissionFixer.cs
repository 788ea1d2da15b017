using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Isolation;

/// <summary>One change that <see cref="PermissionFixer"/> made (or would make).</summary>
public sealed record PermissionChange(string Path, string OldOwner, string NewOwner, string OldMode, string NewMode);

/// <summary>
/// Makes a DocumentRoot tree belong to the vhost's user and group and unreadable by others:
/// directories 0750, files 0640, files with the owner's x bit 0740 (CGI scripts keep working).
/// Runs as root over a tree the tenant can write, so it never follows a symlink: it opens each
/// entry with O_NOFOLLOW and changes it through the descriptor (fchown/fchmod) after checking
/// the descriptor is the entry it inspected; symlinks themselves only get lchown.
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

        foreach (var path in IsolationAuditor.Walk(Path.GetFullPath(root)))
        {
            if (Syscall.lstat(path, out var st) != 0) continue;
            var type = st.st_mode & FilePermissions.S_IFMT;
            uint mode = (uint)st.st_mode & 0xFFF;
            if (type == FilePermissions.S_IFLNK)
            {
                if (st.st_uid == user.Uid && st.st_gid == group.Gid) continue;
                changes.Add(new PermissionChange(path, Owner(st.st_uid, st.st_gid), newOwner, "link", "link"));
                if (apply) Check(Syscall.lchown(path, (int)user.Uid, (int)group.Gid), "lchown", path);
                continue;
            }
            if (type != FilePermissions.S_IFDIR && type != FilePermissions.S_IFREG) continue; // devices, fifos, sockets: leave alone

            uint target = TargetMode(type == FilePermissions.S_IFDIR, mode);
            bool ownerOk = st.st_uid == user.Uid && st.st_gid == group.Gid;
            if (ownerOk && mode == target) continue;
            changes.Add(new PermissionChange(path, Owner(st.st_uid, st.st_gid), newOwner, Convert.ToString(mode, 8).PadLeft(4, '0'), Convert.ToString(target, 8).PadLeft(4, '0')));
            if (!apply) continue;

            int fd = Syscall.open(path, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC);
            Check(fd, "open", path);
            try
            {
                Check(Syscall.fstat(fd, out var fst), "fstat", path);
                if (fst.st_ino != st.st_ino || fst.st_dev != st.st_dev)
                    throw new IOException($"'{path}' changed while its permissions were being fixed; run again.");
                if (!ownerOk) Check(Syscall.fchown(fd, (int)user.Uid, (int)group.Gid), "fchown", path);
                Check(Syscall.fchmod(fd, (FilePermissions)target), "fchmod", path);
            }
            finally { Syscall.close(fd); }
        }
        return changes;
    }

    private static void Check(long result, string call, string path)
    {
        if (result < 0) throw new IOException($"{call} '{path}': {Stdlib.strerror(Stdlib.GetLastError())}");
    }
}
