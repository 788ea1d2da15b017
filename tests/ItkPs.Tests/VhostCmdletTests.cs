using System.Management.Automation;
using Xunit;

namespace ItkPs.Tests;

/// <summary>The vhost cmdlets as a PowerShell user drives them: names, wildcards, pipelines, errors, completion.</summary>
public class VhostCmdletTests : IClassFixture<ModuleSession>
{
    private readonly ModuleSession _session;
    public VhostCmdletTests(ModuleSession session) { _session = session; }

    /// <summary>A config root with shop.test (alias www.shop.test) and blog.test (alias *.blog.test).</summary>
    private Scratch TwoVhosts()
    {
        var s = new Scratch();
        var r = _session.Run($"""
            New-ItkVhost -Name shop.test -DocumentRoot '{s.Path}' -Alias www.shop.test -ConfigRoot '{s.Path}/etc'
            New-ItkVhost -Name blog.test -DocumentRoot '{s.Path}' -Alias '*.blog.test' -ConfigRoot '{s.Path}/etc'
            """);
        Assert.Empty(r.Errors);
        return s;
    }

    [Theory]
    [InlineData("'www.*'", "shop.test")]          // an alias, by wildcard
    [InlineData("www.shop.test", "shop.test")]    // an alias, exactly
    [InlineData("'*.test'", "blog.test shop.test")]  // in file order
    [InlineData("'*blog*'", "blog.test")]         // name and the wildcard alias: once
    [InlineData("'nothing.*'", "")]               // a pattern that matches nothing is no error
    public void NameMatchesServerNamesAndAliasesWithWildcards(string pattern, string expected)
    {
        using var s = TwoVhosts();
        var r = _session.Run($"Get-ItkVhost {pattern} -ConfigRoot '{s.Path}/etc' | ForEach-Object Name");
        Assert.Empty(r.Errors);
        Assert.Equal(expected.Split(' ', StringSplitOptions.RemoveEmptyEntries), r.Output.Select(o => o.ToString()));
        var audit = _session.Run($"Test-ItkVhost {pattern} -ConfigRoot '{s.Path}/etc'");
        Assert.Empty(audit.Errors);
    }

    /// <summary>Piped into Set-ItkVhost, a vhost binds its name and file and nothing else: only the asked-for lines change.</summary>
    [Fact]
    public void PipingGetIntoSetChangesOnlyWhatWasAsked()
    {
        using var s = new Scratch();
        string file = s.Write("etc/vhosts.d/shop.test.conf", $"""
            # written by hand
            <VirtualHost *:80>
                ServerName shop.test
                DocumentRoot {s.Path}/www//shop/
                AssignUserID nobody nogroup
            </VirtualHost>

            """);
        string before = File.ReadAllText(file);
        var whatIf = _session.Run($"Get-ItkVhost shop.test -ConfigRoot '{s.Path}/etc' | Set-ItkVhost -Nice 5 -MaxClients 10 -WhatIf");
        Assert.Empty(whatIf.Errors);
        Assert.Equal([$"What if: Performing the operation \"Set MaxClientsVHost 10, NiceValue 5\" on target \"shop.test ({file})\"."], whatIf.HostLines);

        var r = _session.Run($"Get-ItkVhost shop.test -ConfigRoot '{s.Path}/etc' | Set-ItkVhost -Nice 5 -MaxClients 10 -PassThru");
        Assert.Empty(r.Errors);
        var after = File.ReadAllText(file);
        Assert.Equal(before.Replace("    AssignUserID nobody nogroup\n", "    AssignUserID nobody nogroup\n    MaxClientsVHost 10\n    NiceValue 5\n"), after);
        Assert.Equal(before, File.ReadAllText(file + ".bak"));
        dynamic v = r.Output.Single();
        Assert.Equal(5, (int)v.Nice);
        Assert.Equal($"{s.Path}/www//shop/", (string)v.DocumentRoot);
    }

    [Fact]
    public void SetUserWithFixPermissionsIsOneChangePerVhost()
    {
        using var s = TwoVhosts();
        // nobody exists on every Debian system and is not root: nothing is created.
        var r = _session.Run($"Set-ItkUser -Name shop.test -User nobody -FixPermissions -ConfigRoot '{s.Path}/etc' -WhatIf");
        Assert.Empty(r.Errors);
        var line = Assert.Single(r.HostLines);
        Assert.StartsWith("What if: Performing the operation \"Set AssignUserID nobody nogroup; make ", line);
    }

    /// <summary>Bad input: a stable ErrorId with the exception type and category PowerShell uses for that kind, and nothing written.</summary>
    [Theory]
    [InlineData("New-ItkVhost -Name 'not a name' -DocumentRoot /tmp -ConfigRoot $root", "InvalidServerName", typeof(PSArgumentException), ErrorCategory.InvalidArgument)]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -Alias 'bad alias' -ConfigRoot $root", "InvalidAlias", typeof(PSArgumentException), ErrorCategory.InvalidArgument)]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -Listen nowhere -ConfigRoot $root", "InvalidListen", typeof(PSArgumentException), ErrorCategory.InvalidArgument)]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -User itkm-no-such-user -ConfigRoot $root", "UserNotFound", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -User nobody -Group itkm-no-such-group -ConfigRoot $root", "GroupNotFound", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -Group www-data -ConfigRoot $root", "GroupNeedsUser", typeof(PSArgumentException), ErrorCategory.InvalidArgument)]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -User root -ConfigRoot $root", "RootIdRefused", typeof(PSArgumentException), ErrorCategory.InvalidArgument)]
    [InlineData("Get-ItkVhost -Name missing.test -ConfigRoot $root", "VhostNotFound", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Set-ItkVhost -Name missing.test -Nice 1 -ConfigRoot $root", "VhostNotFound", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Set-ItkVhost -Name missing.test -Group www-data -ConfigRoot $root", "GroupNeedsUser", typeof(PSArgumentException), ErrorCategory.InvalidArgument)]
    [InlineData("Remove-ItkVhost -Name missing.test -ConfigRoot $root -Confirm:$false", "VhostNotFound", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Test-ItkConfig -Path $root/none.conf", "ConfigNotFound", typeof(FileNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Edit-ItkSpec -Path $root/none.spec", "SpecNotFound", typeof(FileNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Enable-ItkHttpd -Root $root/none", "RootNotFound", typeof(DirectoryNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Get-ItkServer -ControlSocket $root/none.sock", "ServerNotRunning", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Stop-ItkServer -ConfigRoot $root -Confirm:$false", "ServerNotRunning", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Restart-ItkServer -ControlSocket $root/none.sock", "ServerNotRunning", typeof(ItemNotFoundException), ErrorCategory.ObjectNotFound)]
    [InlineData("Start-ItkServer -ConfigRoot $root -ControlSocket $root/s.sock -LogPath $root/log", "ConfigNotFound", typeof(FileNotFoundException), ErrorCategory.ObjectNotFound)]
    public void BadInputGivesAStableErrorIdOfTheRightKindAndWritesNothing(string command, string errorId, Type exception, ErrorCategory category)
    {
        string root = Path.Combine(Path.GetTempPath(), "itkps-mt-" + Guid.NewGuid().ToString("N"));
        try
        {
            var r = _session.Run($"$root = '{root}'; {command}");
            var error = Assert.Single(r.Errors);
            Assert.StartsWith(errorId + ",ItkPs.Commands.", error.FullyQualifiedErrorId);
            Assert.IsType(exception, error.Exception);
            Assert.Equal(category, error.CategoryInfo.Category);
            Assert.False(Directory.Exists(root), "a failed command must not create the config root");
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void AVhostNameTakenOnThePortAndAnExistingFileAreResourceExists()
    {
        using var s = TwoVhosts();
        var taken = _session.Run($"New-ItkVhost -Name www.shop.test -DocumentRoot /tmp -ConfigRoot '{s.Path}/etc'");
        Assert.Equal(("VhostExists", ErrorCategory.ResourceExists), (taken.Errors.Single().FullyQualifiedErrorId.Split(',')[0], taken.Errors.Single().CategoryInfo.Category));
        var file = _session.Run($"New-ItkVhost -Name shop.test -DocumentRoot /tmp -ConfigRoot '{s.Path}/etc'");
        Assert.Equal(("VhostFileExists", ErrorCategory.ResourceExists), (file.Errors.Single().FullyQualifiedErrorId.Split(',')[0], file.Errors.Single().CategoryInfo.Category));
        Assert.IsType<IOException>(file.Errors.Single().Exception);
    }

    [Fact]
    public void AConfirmAnsweredNoChangesNothingAndYesRemoves()
    {
        using var s = TwoVhosts();
        var before = s.Snapshot();
        _session.Host.Answer = 2; // No
        var no = _session.Run($"Remove-ItkVhost -Name shop.test -ConfigRoot '{s.Path}/etc'");
        Assert.Empty(no.Errors);
        Assert.Single(no.HostLines, l => l.StartsWith("PROMPT: "));
        Assert.Equal(before, s.Snapshot());
        _session.Host.Answer = 0; // Yes
        var yes = _session.Run($"Remove-ItkVhost -Name shop.test -ConfigRoot '{s.Path}/etc'");
        _session.Host.Answer = 2;
        Assert.Empty(yes.Errors);
        Assert.False(File.Exists($"{s.Path}/etc/vhosts.d/shop.test.conf"));
    }

    [Fact]
    public void VhostNamesCompleteFromAConfigRootRelativeToPwd()
    {
        using var s = TwoVhosts();
        // Set-Location moves $PWD, not the process's working directory: the completer must follow $PWD.
        var r = _session.Run($"Push-Location '{s.Path}'; try {{ $line = 'Get-ItkVhost -ConfigRoot ./etc -Name sh'; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | ForEach-Object CompletionText }} finally {{ Pop-Location }}");
        Assert.Empty(r.Errors);
        Assert.Equal(["shop.test"], r.Output.Select(o => o.ToString()));
    }

    [Theory]
    [InlineData("New-ItkVhost -Group nogro", "nogroup")]
    [InlineData("Set-ItkVhost -Name x -User nobody -Group nogro", "nogroup")]
    [InlineData("Set-ItkUser -Name x -User nobody -Group nogro", "nogroup")]
    [InlineData("Set-ItkUser -Name x -User nobo", "nobody")]
    public void UsersAndGroupsComplete(string line, string expected)
    {
        var r = _session.Run($"$line = '{line}'; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | ForEach-Object CompletionText");
        Assert.Equal([expected], r.Output.Select(o => o.ToString()));
        var root = _session.Run("$line = 'New-ItkVhost -Group roo'; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | ForEach-Object CompletionText");
        Assert.DoesNotContain("root", root.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void TestItkConfigPointsAtTheDirectiveLine()
    {
        using var s = new Scratch();
        s.Write("etc/vhosts.d/a.test.conf", $"""
            <VirtualHost *:80>
                ServerName a.test
                DocumentRoot {s.Path}
                # comment
                AssignUserID itkm-no-such-user itkm-no-such-user
                NiceValue 40
            </VirtualHost>

            """);
        var r = _session.Run($"Test-ItkConfig -ConfigRoot '{s.Path}/etc' | ForEach-Object {{ '{{0}} {{1}}' -f $_.Line, $_.Message }}");
        Assert.Empty(r.Errors);
        var lines = r.Output.Select(o => o.ToString()!).ToList();
        Assert.Contains(lines, l => l.StartsWith("5 ") && l.Contains("'itkm-no-such-user' does not exist"));
        Assert.Contains(lines, l => l.StartsWith("6 ") && l.Contains("NiceValue 40"));
    }
}
