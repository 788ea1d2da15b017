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
        string? root = fakeBoundParameters["ConfigRoot"] as string;
        IEnumerable<string> names;
        try { names = ConfigRoot.Resolve(root).Read().VirtualHosts.Select(v => v.Name).Where(n => n.Length > 0).ToList(); }
        catch (Exception) { yield break; } // completion must never throw at the user
        var wc = new WildcardPattern(wordToComplete + "*", WildcardOptions.IgnoreCase);
        foreach (var n in names.Distinct().Order().Where(n => wc.IsMatch(n)))
            yield return new CompletionResult(n, n, CompletionResultType.ParameterValue, n);
    }
}

/// <summary>Tab completion of local user names (passwd database).</summary>
public sealed class UserNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var names = new List<string>();
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
        foreach (var n in names.Order())
            yield return new CompletionResult(n, n, CompletionResultType.ParameterValue, n);
    }
}
