using System.Diagnostics;

namespace ItkPs.Server.Privileged;

/// <summary>
/// Starts itkd roles as child processes of the master (root). Descriptors the child needs are
/// made inheritable only for the moment of the spawn, one spawn at a time (Process.Start
/// hands every inheritable descriptor to every child). The child is exec'd through bash's
/// "exec -a" so that ps shows its role as the process title ("itkd: worker alice").
/// </summary>
public static class Spawner
{
    private static readonly object Gate = new();

    /// <summary>
    /// Run by the master at start: replaces the process image (same pid, so whoever started
    /// itkd still holds the master's pid) with itself under the title "itkd: master".
    /// Returns only when that is not possible; then the master simply keeps its command line.
    /// </summary>
    public static void RetitleMaster(string[] args)
    {
        const string guard = "ITKD_MASTER_TITLED";
        if (Environment.GetEnvironmentVariable(guard) == "1" || !File.Exists("/bin/bash")) return;
        string? self = Environment.ProcessPath;
        if (self is null || Path.GetFileNameWithoutExtension(self) == "dotnet") return;
        var argv = new List<string?> { "bash", "-c", "exec -a \"$0\" \"$@\"", "itkd: master", self };
        argv.AddRange(args);
        argv.Add(null);
        // exec keeps the calling thread's signal mask; the runtime blocks signals it uses on
        // its own threads, and a new runtime that starts with them blocked hangs. Clear it.
        Native.pthread_sigmask(Native.SIG_SETMASK, new byte[128], IntPtr.Zero);
        // .NET keeps its own copy of the environment: hand it over explicitly, with the guard.
        var envp = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").Append($"{guard}=1").Cast<string?>().Append(null).ToArray();
        Native.execve("/bin/bash", argv.ToArray(), envp);
        // execve failed: carry on with the command line we have.
    }

    /// <summary>Run by the master (root).</summary>
    public static Process Spawn(string title, IReadOnlyList<string> args, IReadOnlyList<int> inheritFds)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the itkd executable");
        var psi = new ProcessStartInfo("/bin/bash") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec -a \"$0\" \"$@\"");
        psi.ArgumentList.Add(title);
        // Run as a .dll under the dotnet host when not published as an apphost.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            psi.ArgumentList.Add(self);
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "itkd.dll"));
        }
        else psi.ArgumentList.Add(self);
        foreach (var a in args) psi.ArgumentList.Add(a);
        lock (Gate)
        {
            foreach (var fd in inheritFds) FdPassing.SetInheritable(fd, true);
            try { return Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null"); }
            finally { foreach (var fd in inheritFds) FdPassing.SetInheritable(fd, false); }
        }
    }
}
