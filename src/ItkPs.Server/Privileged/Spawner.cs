using System.Runtime.InteropServices;
using System.Text;

namespace ItkPs.Server.Privileged;

/// <summary>
/// What to start: the program, its argv (argv[0] is the title ps shows), its whole environment,
/// and exactly the descriptors it gets — <see cref="Descriptors"/>[i] becomes descriptor i in the
/// child; every other descriptor of the parent is closed in the child, close-on-exec or not.
/// </summary>
public sealed record SpawnRequest(string Path, IReadOnlyList<string> Argv, IReadOnlyList<string> Environment, IReadOnlyList<int> Descriptors)
{
    public string? WorkingDirectory { get; init; }
    /// <summary>The child leads a process group of its own (its pid), which <see cref="Privileges.KillProcessGroup"/> can end.</summary>
    public bool NewProcessGroup { get; init; }
}

/// <summary>
/// Starts processes with posix_spawn: the only place that does. Used by the master (root) for the
/// dispatcher and workers, and by workers (as their user) for CGI programs and php-cgi. The child
/// starts with an empty signal mask and every signal at its default (the runtime ignores SIGPIPE;
/// a CGI must not inherit that), and with the descriptors listed and no others: nothing the parent
/// holds — a channel, a listener, a log, a terminal — reaches a program by accident.
/// </summary>
public static unsafe class Spawner
{
    /// <summary>Starts the program; returns its pid. Throws <see cref="IOException"/> when it cannot be started.</summary>
    public static int Spawn(SpawnRequest request)
    {
        int count = request.Descriptors.Count;
        // Copies at numbers >= count first: a dup2 onto i can then never overwrite a source, and
        // closefrom(count) removes the copies along with everything else.
        var copies = new int[count];
        Array.Fill(copies, -1);
        void* actions = NativeMemory.AllocZeroed(256);
        void* attr = NativeMemory.AllocZeroed(1024);
        void* sigmask = NativeMemory.AllocZeroed(128);
        void* sigdefault = NativeMemory.AllocZeroed(128);
        using var argv = new NativeStrings(request.Argv);
        using var envp = new NativeStrings(request.Environment);
        byte[] path = NullTerminated(request.Path);
        byte[]? cwd = request.WorkingDirectory is null ? null : NullTerminated(request.WorkingDirectory);
        try
        {
            for (int i = 0; i < count; i++)
            {
                copies[i] = Native.fcntl(request.Descriptors[i], Native.F_DUPFD_CLOEXEC, count);
                if (copies[i] < 0) throw new IOException($"spawn {request.Path}: descriptor {request.Descriptors[i]} for {i}: {Native.Error()}");
            }
            Check(Native.posix_spawn_file_actions_init(actions), "file actions");
            for (int i = 0; i < count; i++) Check(Native.posix_spawn_file_actions_adddup2(actions, copies[i], i), "adddup2");
            Check(Native.posix_spawn_file_actions_addclosefrom_np(actions, count), "addclosefrom");
            if (cwd is not null) fixed (byte* c = cwd) Check(Native.posix_spawn_file_actions_addchdir_np(actions, c), "addchdir");
            Check(Native.posix_spawnattr_init(attr), "attributes");
            Native.sigemptyset(sigmask);
            Native.sigfillset(sigdefault);
            Native.sigdelset(sigdefault, Native.SIGKILL);
            Native.sigdelset(sigdefault, Native.SIGSTOP);
            Check(Native.posix_spawnattr_setsigmask(attr, sigmask), "sigmask");
            Check(Native.posix_spawnattr_setsigdefault(attr, sigdefault), "sigdefault");
            short flags = Native.POSIX_SPAWN_SETSIGMASK | Native.POSIX_SPAWN_SETSIGDEF;
            if (request.NewProcessGroup) { flags |= Native.POSIX_SPAWN_SETPGROUP; Check(Native.posix_spawnattr_setpgroup(attr, 0), "pgroup"); }
            Check(Native.posix_spawnattr_setflags(attr, flags), "flags");
            int pid;
            int error;
            fixed (byte* p = path) error = Native.posix_spawn(&pid, p, actions, attr, argv.Pointer, envp.Pointer);
            if (error != 0) throw new IOException($"cannot start {request.Path}: {Native.ErrorText(error)}");
            return pid;
        }
        finally
        {
            foreach (int c in copies) if (c >= 0) Native.close(c);
            Native.posix_spawn_file_actions_destroy(actions);
            Native.posix_spawnattr_destroy(attr);
            NativeMemory.Free(actions);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigmask);
            NativeMemory.Free(sigdefault);
        }
    }

    private static void Check(int error, string what)
    {
        if (error != 0) throw new IOException($"posix_spawn {what}: {Native.ErrorText(error)}");
    }

    private static byte[] NullTerminated(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    /// <summary>
    /// Run by the master at start: replaces the process image (same pid, so whoever started itkd
    /// still holds the master's pid) with itself under argv[0] "itkd: master", the title ps shows.
    /// Returns only when that is not possible; then the master keeps its command line.
    /// </summary>
    public static void RetitleMaster(string[] args)
    {
        const string guard = "ITKD_MASTER_TITLED";
        if (System.Environment.GetEnvironmentVariable(guard) == "1") return;
        var (path, argv) = SelfCommand("itkd: master", args);
        if (path is null) return;
        // exec keeps the calling thread's signal mask; the runtime blocks signals it uses on
        // its own threads, and a new runtime that starts with them blocked hangs. Clear it.
        Native.pthread_sigmask(Native.SIG_SETMASK, new byte[128], IntPtr.Zero);
        // An ignored SIGCHLD survives exec; the runtime would then reap children itself and the
        // master would never see its workers exit.
        MasterProcess.DefaultSignal(17 /* SIGCHLD */);
        // .NET keeps its own copy of the environment: hand it over explicitly, with the guard.
        var env = System.Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").Append($"{guard}=1").ToList();
        using var a = new NativeStrings(argv);
        using var e = new NativeStrings(env);
        fixed (byte* p = NullTerminated(path)) Native.execve(p, a.Pointer, e.Pointer);
        // execve failed: carry on with the command line we have.
    }

    /// <summary>
    /// How to start this same itkd again with a title: /proc/self/exe (the very binary the master
    /// runs, even if the file was replaced since), or the dotnet host with itkd.dll.
    /// </summary>
    public static (string? Path, List<string> Argv) SelfCommand(string title, IEnumerable<string> args)
    {
        string? self = System.Environment.ProcessPath;
        var argv = new List<string> { title };
        if (self is null) return (null, argv);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            argv.Add(Path.Combine(AppContext.BaseDirectory, "itkd.dll"));
        argv.AddRange(args);
        return ("/proc/self/exe", argv);
    }

    /// <summary>A NULL-terminated char*[] in native memory.</summary>
    private sealed class NativeStrings : IDisposable
    {
        private readonly byte** _array;
        private readonly int _count;

        public NativeStrings(IReadOnlyList<string> strings)
        {
            _count = strings.Count;
            _array = (byte**)NativeMemory.AllocZeroed((nuint)(_count + 1), (nuint)sizeof(byte*));
            for (int i = 0; i < _count; i++)
            {
                var bytes = NullTerminated(strings[i]);
                _array[i] = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
                bytes.CopyTo(new Span<byte>(_array[i], bytes.Length));
            }
        }

        public byte** Pointer => _array;

        public void Dispose()
        {
            for (int i = 0; i < _count; i++) NativeMemory.Free(_array[i]);
            NativeMemory.Free(_array);
        }
    }
}
