using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Mono.Unix.Native;

namespace ItkPs.Core.Htaccess;

/// <summary>
/// statx(2) straight from libc, for the request path: a .htaccess costs a stat per directory per
/// request (as Apache's open per directory), and Mono.Posix's wrapper adds a heap copy of the path,
/// a UTF-8 pass and a struct conversion to each. struct statx has one layout on every architecture.
/// </summary>
internal static unsafe partial class NativeStat
{
    private const int AT_FDCWD = -100;
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const int StatxSize = 256;
    private const int StackPath = 512;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int statx(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    /// <summary>stat(2) of a path, links followed; the errno (0 on success).</summary>
    [SkipLocalsInit] // the buffers are written before they are read
    public static Errno Stat(string path, out FileStat st)
    {
        // a NUL would end the C string early and name another file: refuse it as the kernel refuses an empty name
        if (path.Length == 0 || path.Contains('\0')) { st = FileStat.Missing; return Errno.ENOENT; }
        int max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> name = max <= StackPath ? stackalloc byte[StackPath] : new byte[max];
        int n = Encoding.UTF8.GetBytes(path, name);
        name[n] = 0;
        byte* buf = stackalloc byte[StatxSize];
        int rc;
        fixed (byte* p = name) rc = statx(AT_FDCWD, p, 0, STATX_BASIC_STATS, buf);
        if (rc != 0)
        {
            st = FileStat.Missing;
            return NativeConvert.ToErrno(Marshal.GetLastPInvokeError());
        }
        uint mode = *(ushort*)(buf + 28);
        var kind = (mode & 0xF000) switch { 0x8000 => FileKind.Regular, 0x4000 => FileKind.Directory, _ => FileKind.Other };
        uint major = *(uint*)(buf + 136), minor = *(uint*)(buf + 140);
        // glibc's makedev, so that a device compares equal with what stat(2) reports
        ulong dev = ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
        st = new FileStat(kind, *(long*)(buf + 40), *(long*)(buf + 112), *(uint*)(buf + 120), *(ulong*)(buf + 32), dev,
            *(uint*)(buf + 20), mode, *(long*)(buf + 96), *(uint*)(buf + 104));
        return 0;
    }
}
