using System.Runtime.InteropServices;

namespace ItkPs.Server.Privileged;

/// <summary>The few libc calls Mono.Unix does not wrap (prctl, initgroups, setpriority, fcntl, getresuid).</summary>
internal static partial class Native
{
    public const int PR_SET_PDEATHSIG = 1;
    public const int PR_SET_NAME = 15;
    public const int PR_SET_NO_NEW_PRIVS = 38;
    public const int PR_GET_NO_NEW_PRIVS = 39;
    public const int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;
    public const int PRIO_PROCESS = 0;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int initgroups(string user, uint group);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setpriority(int which, uint who, int prio);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getresuid(out uint ruid, out uint euid, out uint suid);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getresgid(out uint rgid, out uint egid, out uint sgid);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int execve(string path, string?[] argv, string?[] envp);

    public const int SIG_SETMASK = 2;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int pthread_sigmask(int how, byte[] set, IntPtr oldset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setpgid(int pid, int pgid);

    public static string Error() => Marshal.GetLastPInvokeErrorMessage();
}
