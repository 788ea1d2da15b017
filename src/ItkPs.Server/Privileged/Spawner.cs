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
            psi.ArgumentList.Add(typeof(Spawner).Assembly.Location);
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
