using System.Runtime.InteropServices;

namespace ItkPs.Server.Privileged;

/// <summary>
/// The libc calls Mono.Unix does not wrap, or wraps with an allocation per call where a role
/// calls them per connection: prctl, initgroups, setpriority, fcntl, getresuid, posix_spawn,
/// epoll, memfd, pipes, waitpid, sendmsg/recvmsg. Constants are Linux x86-64/arm64 values.
/// </summary>
internal static unsafe partial class Native
{
    public const int PR_SET_PDEATHSIG = 1;
    public const int PR_SET_NAME = 15;
    public const int PR_SET_NO_NEW_PRIVS = 38;
    public const int PR_GET_NO_NEW_PRIVS = 39;
    public const int F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, FD_CLOEXEC = 1, F_DUPFD_CLOEXEC = 1030;
    public const int F_ADD_SEALS = 1033, F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;
    public const int PRIO_PROCESS = 0;
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_APPEND = 0x400,
        O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public const int AT_FDCWD = -100;
    public const int EINTR = 4, EAGAIN = 11, ENOENT = 2, EACCES = 13, EEXIST = 17, ENOTDIR = 20, ELOOP = 40, EPIPE = 32, ECONNRESET = 104,
        ENOTCONN = 107, ETOOMANYREFS = 109, ECHILD = 10, EMFILE = 24, ENFILE = 23, ENOBUFS = 105, ENOMEM = 12, ECONNABORTED = 103;
    public const int MSG_PEEK = 2, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_CTRUNC = 8, MSG_CMSG_CLOEXEC = 0x40000000;
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, SO_SNDBUF = 7, SO_RCVBUF = 8;
    public const int SOCK_STREAM = 1, SOCK_SEQPACKET = 5, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000, AF_UNIX = 1;
    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public const int WNOHANG = 1;
    public const uint TIOCNOTTY = 0x5422;
    public const uint CLOSE_RANGE_CLOEXEC = 4;

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

    [LibraryImport("libc", SetLastError = true)]
    public static partial int execve(byte* path, byte** argv, byte** envp);

    public const int SIG_SETMASK = 2;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int pthread_sigmask(int how, byte[] set, IntPtr oldset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setpgid(int pid, int pgid);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsid(int pid);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, byte* address, uint* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrlimit(int resource, ulong* limits);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setrlimit(int resource, ulong* limits);

    public const int RLIMIT_NOFILE = 7;

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint signal(int signal, nint handler);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close_range(uint first, uint last, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int dup(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, int* value, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buffer, nuint count, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buffer, nuint count, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, IntPtr address, IntPtr length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int openat(int dirfd, string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, nint arg);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int waitpid(int pid, out int status, int options);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, EpollEvent* events, int maxEvents, int timeout);

    // posix_spawn: the child gets exactly the descriptors named, nothing else (see Spawner).
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_init(void* actions);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_destroy(void* actions);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_addclosefrom_np(void* actions, int from);
    [LibraryImport("libc")] public static partial int posix_spawn_file_actions_addchdir_np(void* actions, byte* path);
    [LibraryImport("libc")] public static partial int posix_spawnattr_init(void* attr);
    [LibraryImport("libc")] public static partial int posix_spawnattr_destroy(void* attr);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setflags(void* attr, short flags);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setsigmask(void* attr, void* set);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setsigdefault(void* attr, void* set);
    [LibraryImport("libc")] public static partial int posix_spawnattr_setpgroup(void* attr, int pgroup);
    [LibraryImport("libc")] public static partial int posix_spawn(int* pid, byte* path, void* actions, void* attr, byte** argv, byte** envp);
    [LibraryImport("libc")] public static partial int sigemptyset(void* set);
    [LibraryImport("libc")] public static partial int sigfillset(void* set);
    [LibraryImport("libc")] public static partial int sigdelset(void* set, int signal);

    public const short POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;
    public const int SIGKILL = 9, SIGSTOP = 19, SIGTERM = 15, SIGCONT = 18;

    public const int EPOLL_CLOEXEC = 0x80000, EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLRDHUP = 0x2000, EPOLLET = 1u << 31;

    /// <summary>struct epoll_event: packed on x86-64 (12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string Error() => Marshal.GetLastPInvokeErrorMessage();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
