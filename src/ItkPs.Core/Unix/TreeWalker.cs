using System.Runtime.InteropServices;
using Mono.Unix.Native;

namespace ItkPs.Core.Unix;

/// <summary>
/// One entry met on a walk. <see cref="Path"/> is for reports only, never used to reach it:
/// <see cref="Fd"/> refers to exactly the entry that was examined (O_PATH for anything but a
/// directory, O_DIRECTORY for a directory) and is valid during the visit.
/// </summary>
public sealed class TreeEntry
{
    public required string Path { get; init; }
    public required Stat Stat { get; init; }
    public required int Fd { get; init; }
    public FilePermissions Type => Stat.st_mode & FilePermissions.S_IFMT;
    public bool IsDirectory => Type == FilePermissions.S_IFDIR;
    public bool IsSymlink => Type == FilePermissions.S_IFLNK;
    public bool IsRegular => Type == FilePermissions.S_IFREG;
}

/// <summary>
/// Walks a tree by directory descriptors, as root may walk a tree its tenant can write: each level
/// is opened with openat(O_DIRECTORY | O_NOFOLLOW) relative to the level above, each entry with
/// openat(O_PATH | O_NOFOLLOW), and every change goes through that descriptor (fchownat with
/// AT_EMPTY_PATH, chmod of /proc/self/fd/N). A tenant that swaps a directory for a symbolic link
/// at any moment (renameat2 RENAME_EXCHANGE) gets either the directory or the link itself — never
/// what the link points to. The root is reached the same way from "/" along its real path.
/// </summary>
public static partial class TreeWalker
{
    private const int O_RDONLY = 0, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    private const int AT_EMPTY_PATH = 0x1000, AT_SYMLINK_NOFOLLOW = 0x100;
    private const int MaxDepth = 256;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dirfd, string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchownat(int dirfd, string path, uint owner, uint group, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr realpath(string path, IntPtr resolved);

    [LibraryImport("libc")]
    private static partial void free(IntPtr p);

    /// <summary>Visits root and everything below it, depth first, names in ordinal order. Throws when root cannot be reached safely.</summary>
    public static void Walk(string root, Action<TreeEntry> visit)
    {
        string real = RealPath(root);
        int fd = OpenRoot(real);
        try
        {
            if (Syscall.fstat(fd, out var st) != 0) throw Error("fstat", real);
            visit(new TreeEntry { Path = real, Stat = st, Fd = fd });
            Descend(fd, real, visit, 0);
        }
        finally { close(fd); }
    }

    private static void Descend(int dirfd, string path, Action<TreeEntry> visit, int depth)
    {
        if (depth >= MaxDepth) return;
        List<string> names;
        try { names = Directory.EnumerateFileSystemEntries($"/proc/self/fd/{dirfd}").Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList(); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException) { return; }
        foreach (var name in names)
        {
            string child = path == "/" ? "/" + name : path + "/" + name;
            int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) continue; // gone since the listing
            try
            {
                if (Syscall.fstat(fd, out var st) != 0) continue;
                if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFDIR)
                {
                    visit(new TreeEntry { Path = child, Stat = st, Fd = fd });
                    continue;
                }
                // A directory: opened again, relative to the same parent, without following; if it
                // was swapped between the two opens, the descriptors differ and it is left alone.
                int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0) continue;
                try
                {
                    if (Syscall.fstat(dfd, out var dst) != 0 || dst.st_ino != st.st_ino || dst.st_dev != st.st_dev) continue;
                    visit(new TreeEntry { Path = child, Stat = dst, Fd = dfd });
                    Descend(dfd, child, visit, depth + 1);
                }
                finally { close(dfd); }
            }
            finally { close(fd); }
        }
    }

    /// <summary>The real path (symbolic links resolved), walked again from "/" with O_NOFOLLOW: any link found now is a swap, refused.</summary>
    private static int OpenRoot(string real)
    {
        int fd = openat(-100 /* AT_FDCWD */, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw Error("open", "/");
        foreach (var part in real.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int errno = Marshal.GetLastPInvokeError();
            close(fd);
            if (next < 0)
                throw new IOException(errno is 40 /* ELOOP */ or 20 /* ENOTDIR */
                    ? $"'{real}' changed while it was being opened ('{part}' is no longer a directory); run again."
                    : $"open '{real}': {Marshal.GetPInvokeErrorMessage(errno)}");
            fd = next;
        }
        return fd;
    }

    private static string RealPath(string path)
    {
        IntPtr p = realpath(path, IntPtr.Zero);
        if (p == IntPtr.Zero) throw Error("realpath", path);
        try { return Marshal.PtrToStringUTF8(p)!; }
        finally { free(p); }
    }

    /// <summary>Changes the owner of exactly the entry visited (a symbolic link itself, not its target).</summary>
    public static void Chown(TreeEntry e, uint uid, uint gid)
    {
        if (fchownat(e.Fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) throw Error("chown", e.Path);
    }

    /// <summary>Changes the mode of exactly the entry visited (a directory or a regular file).</summary>
    public static void Chmod(TreeEntry e, uint mode)
    {
        if (e.IsSymlink) throw new InvalidOperationException("symbolic links have no mode of their own");
        // /proc/self/fd/N leads to the inode the descriptor holds, whatever has been renamed since.
        if (Syscall.chmod($"/proc/self/fd/{e.Fd}", (FilePermissions)mode) != 0) throw Error("chmod", e.Path);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlinkat(int dirfd, string path, byte[] buffer, nuint size);

    /// <summary>The text of a symbolic link visited (what it says, not resolved).</summary>
    public static string? LinkText(TreeEntry e)
    {
        var buffer = new byte[4096];
        nint n = readlinkat(e.Fd, "", buffer, (nuint)buffer.Length);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, 0, (int)n);
    }

    private static IOException Error(string call, string path) =>
        new($"{call} '{path}': {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
}
