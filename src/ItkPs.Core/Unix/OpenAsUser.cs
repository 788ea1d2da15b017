using System.Runtime.InteropServices;

namespace ItkPs.Core.Unix;

/// <summary>
/// Opens one file with a user's file-system identity (fsuid, fsgid and supplementary groups) on
/// the calling thread only, then gives the thread back root's: the kernel checks every directory
/// and link on the way as that user, so a path the user can steer (a symbolic link in the user's
/// own folder) leads root nowhere the user could not read. Only the open runs under the user's
/// identity; the descriptor is then read as usual. The raw system calls change one thread
/// (glibc's setgroups would change every thread of the process).
/// </summary>
public static partial class OpenAsUser
{
    /// <summary>The descriptor openat(AT_FDCWD, path, flags) gives the user, or -1 and the errno in <paramref name="error"/>.</summary>
    public static int Open(string path, int flags, uint uid, uint gid, IReadOnlyList<uint> groups, out int error)
    {
        long setgroups = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 116,
            Architecture.Arm64 => 159,
            _ => throw new PlatformNotSupportedException("setgroups: unknown system call number on this architecture"),
        };
        long getgroups = setgroups - 1; // 115 on x86-64, 158 on arm64
        long count = SysGroups(getgroups, 0, []);
        var saved = new uint[Math.Max(count, 0)];
        if (count < 0 || SysGroups(getgroups, saved.Length, saved) != count) throw new IOException($"getgroups: {Error()}");
        uint oldFsgid = (uint)setfsgid(uint.MaxValue), oldFsuid = (uint)setfsuid(uint.MaxValue);
        var wanted = groups.ToArray();
        try
        {
            if (SysGroups(setgroups, wanted.Length, wanted) != 0) throw new IOException($"setgroups: {Error()}");
            setfsgid(gid);
            setfsuid(uid);
            // setfsuid/setfsgid report no error: read back what is set.
            if ((uint)setfsuid(uint.MaxValue) != uid || (uint)setfsgid(uint.MaxValue) != gid)
                throw new IOException($"cannot take the file-system identity {uid}:{gid}");
            int fd = openat(-100, path, flags, 0);
            error = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return fd;
        }
        finally
        {
            setfsuid(oldFsuid);
            setfsgid(oldFsgid);
            if (SysGroups(setgroups, (int)count, saved) != 0 || (uint)setfsuid(uint.MaxValue) != oldFsuid || (uint)setfsgid(uint.MaxValue) != oldFsgid)
                Environment.FailFast("cannot give this thread back its own identity after opening a file as a site's user");
        }
    }

    private static string Error() => new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message;

    private static unsafe long SysGroups(long number, int size, uint[] list)
    {
        fixed (uint* p = list) return syscall(number, size, p);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial long syscall(long number, long size, uint* list);
    [LibraryImport("libc")]
    private static partial int setfsuid(uint uid);
    [LibraryImport("libc")]
    private static partial int setfsgid(uint gid);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dir, string path, int flags, int mode);
}
