using Xunit;

namespace ItkPs.Tests;

/// <summary>
/// The server cmdlets without a server: "not running" is one non-terminating error per server
/// asked for, so a pipeline goes on and -ErrorAction SilentlyContinue means "if it runs".
/// (With real servers: tests/pester/Module.Tests.ps1.)
/// </summary>
public class ServerCmdletTests : IClassFixture<ModuleSession>
{
    private readonly ModuleSession _session;
    public ServerCmdletTests(ModuleSession session) { _session = session; }

    [Theory]
    [InlineData("Stop-ItkServer -ControlSocket $s/none.sock -Confirm:$false")]
    [InlineData("Stop-ItkServer -ConfigRoot $s -Confirm:$false")]
    [InlineData("Get-ItkServer -ConfigRoot $s")]
    [InlineData("Restart-ItkServer -ControlSocket $s/none.sock")]
    public void NoServerIsANonTerminatingErrorThatSilentlyContinueSilences(string command)
    {
        using var s = new Scratch();
        var loud = _session.Run($"$s = '{s.Path}'; {command}; 'went on'");
        Assert.False(loud.Terminated);
        Assert.Equal(["went on"], loud.Output.Select(o => o.ToString()));
        Assert.StartsWith("ServerNotRunning,", Assert.Single(loud.Errors).FullyQualifiedErrorId);

        var quiet = _session.Run($"$s = '{s.Path}'; {command} -ErrorAction SilentlyContinue; 'went on'");
        Assert.Empty(quiet.Errors);
        Assert.Equal(["went on"], quiet.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void EachServerAskedForIsItsOwnError()
    {
        using var s = new Scratch();
        var r = _session.Run($"'{s.Path}/a.sock', '{s.Path}/b.sock' | ForEach-Object {{ [pscustomobject]@{{ ControlSocket = $_ }} }} | Get-ItkServer");
        Assert.Equal(2, r.Errors.Count);
        Assert.Contains("a.sock", r.Errors[0].Exception.Message);
        Assert.Contains("b.sock", r.Errors[1].Exception.Message);
    }

    [Fact]
    public void AConfigRootsServerGetsASocketOfItsOwnThatTheOtherCmdletsFind()
    {
        using var s = new Scratch();
        s.Write("etc/itkps.conf", "Listen 127.0.0.1:18449\n");
        var start = _session.Run($"Start-ItkServer -ConfigRoot '{s.Path}/etc' -ItkdPath /bin/true -LogPath '{s.Path}/log' -WhatIf");
        var what = Assert.Single(start.HostLines);
        var socket = System.Text.RegularExpressions.Regex.Match(what, @"control socket (\S+),").Groups[1].Value;
        Assert.Matches(@"^/run/itkd/itkd-[0-9a-f]{12}\.sock$", socket);
        var stop = _session.Run($"Push-Location '{s.Path}'; try {{ Stop-ItkServer -ConfigRoot ./etc -Confirm:$false }} finally {{ Pop-Location }}");
        Assert.Equal(socket, Assert.Single(stop.Errors).TargetObject);
    }
}
