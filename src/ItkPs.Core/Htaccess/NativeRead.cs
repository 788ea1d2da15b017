using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Mono.Unix.Native;

namespace ItkPs.Core.Htaccess;

/// <summary>
/// A small file read whole, straight from libc: open, pread, close. For the static handler's most
/// common answer (a file of at most a few dozen kB the request engine has just stat'ed): .NET's
/// File.OpenHandle adds an fstat(2) and a SafeHandle to each, a tenth of a kept-alive request's CPU
/// together with the read. O_NONBLOCK: a FIFO swapped in after the stat must not hang the worker
/// (on a regular file the flag changes nothing).
/// </summary>
public static unsafe partial class NativeRead
{
    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private const int StackPath = 512;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int open(byte* path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    /// <summary>Reads up to <paramref name="into"/>'s length from the start of the file; the bytes read, or the errno.</summary>
    [SkipLocalsInit] // the path buffer is written before it is read
    public static (int Length, Errno Error) Read(string path, Span<byte> into)
    {
        if (path.Length == 0 || path.Contains('\0')) return (0, Errno.ENOENT);
        int max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> name = max <= StackPath ? stackalloc byte[StackPath] : new byte[max];
        int n = Encoding.UTF8.GetBytes(path, name);
        name[n] = 0;
        int fd;
        fixed (byte* p = name) fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return (0, NativeConvert.ToErrno(Marshal.GetLastPInvokeError()));
        try
        {
            int total = 0;
            fixed (byte* b = into)
            {
                while (total < into.Length)
                {
                    nint got = pread(fd, b + total, into.Length - total, total);
                    if (got < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == 4) continue; // EINTR
                        return (0, NativeConvert.ToErrno(errno));
                    }
                    if (got == 0) break; // the file is shorter now than when it was stat'ed
                    total += (int)got;
                }
            }
            return (total, 0);
        }
        finally { close(fd); }
    }
}
