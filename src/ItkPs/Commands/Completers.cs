using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using ItkPs.Core.Hosting;
using Mono.Unix.Native;

namespace ItkPs.Commands;

/// <summary>Tab completion of vhost names from the config root in -ConfigRoot or the default one.</summary>
public sealed class VhostNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        IEnumerable<string> names;
        try
        {
            string? root = fakeBoundParameters["ConfigRoot"] is string typed ? ProviderPath(typed) : null;
            names = ConfigRoot.Resolve(root).Read().VirtualHosts.Select(v => v.Name).Where(n => n.Length > 0).ToList();
        }
        catch (Exception) { yield break; } // completion must never throw at the user
        var wc = new WildcardPattern(wordToComplete + "*", WildcardOptions.IgnoreCase);
        foreach (var n in names.Distinct().Order().Where(n => wc.IsMatch(n)))
            yield return new CompletionResult(n, n, CompletionResultType.ParameterValue, n);
    }

    /// <summary>
    /// A path as typed, resolved the way the cmdlet will resolve it: against PowerShell's current
    /// location ($PWD), which is not the process's working directory.
    /// </summary>
    private static string ProviderPath(string typed)
    {
        using var ps = PowerShell.Create(RunspaceMode.CurrentRunspace);
        ps.AddScript("$ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($args[0])").AddArgument(typed);
        return ps.Invoke<string>().Single();
    }
}

/// <summary>Tab completion of local user names (passwd database), root left out.</summary>
public sealed class UserNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var names = new List<string>();
        // getpwent walks one process-wide cursor.
        lock (typeof(UserNameCompleter))
        {
            Syscall.setpwent();
            try
            {
                for (var pw = Syscall.getpwent(); pw is not null; pw = Syscall.getpwent())
                    if (pw.pw_uid != 0 && pw.pw_name is { } n && n.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase)) names.Add(n);
            }
            finally { Syscall.endpwent(); }
        }
        foreach (var n in names.Distinct().Order())
            yield return new CompletionResult(n, n, CompletionResultType.ParameterValue, n);
    }
}

/// <summary>Tab completion of local group names (group database), root left out.</summary>
public sealed class GroupNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var names = new List<string>();
        lock (typeof(GroupNameCompleter))
        {
            Syscall.setgrent();
            try
            {
                for (var gr = Syscall.getgrent(); gr is not null; gr = Syscall.getgrent())
                    if (gr.gr_gid != 0 && gr.gr_name is { } n && n.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase)) names.Add(n);
            }
            finally { Syscall.endgrent(); }
        }
        foreach (var n in names.Distinct().Order())
            yield return new CompletionResult(n, n, CompletionResultType.ParameterValue, n);
    }
}
