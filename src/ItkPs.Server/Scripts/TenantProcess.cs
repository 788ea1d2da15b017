using System.Diagnostics;
using ItkPs.Server.Privileged;

namespace ItkPs.Server.Scripts;

/// <summary>
/// The one place a worker starts a program for its tenant (CGI scripts, php-cgi, php-fpm), so that
/// how that is done can change in one place. Run by the worker, as the vhost's user.
/// </summary>
public static class TenantProcess
{
    /// <summary>How the child's standard input is set up.</summary>
    public enum Stdin { Pipe, DevNull }

    /// <summary>
    /// Starts <paramref name="psi"/> through <see cref="Privileges.StartChild"/>. With
    /// <see cref="Stdin.DevNull"/> the program reads /dev/null (a daemon such as php-fpm must not
    /// hold a pipe of ours, nor a terminal): the program is exec'd by /bin/sh with its input
    /// redirected, since ProcessStartInfo can only give a pipe or the worker's own input.
    /// </summary>
    public static Process Start(ProcessStartInfo psi, Stdin stdin)
    {
        if (stdin == Stdin.DevNull)
        {
            var wrapped = new ProcessStartInfo("/bin/sh")
            {
                UseShellExecute = false, WorkingDirectory = psi.WorkingDirectory,
                RedirectStandardOutput = psi.RedirectStandardOutput, RedirectStandardError = psi.RedirectStandardError,
            };
            wrapped.ArgumentList.Add("-c");
            wrapped.ArgumentList.Add("exec \"$0\" \"$@\" </dev/null");
            wrapped.ArgumentList.Add(psi.FileName);
            foreach (var a in psi.ArgumentList) wrapped.ArgumentList.Add(a);
            wrapped.Environment.Clear();
            foreach (var kv in psi.Environment) wrapped.Environment[kv.Key] = kv.Value;
            psi = wrapped;
        }
        return Privileges.StartChild(psi);
    }
}
