# Attacks on itkd's privilege separation, played by hostile tenants with real users, real CGI
# (a C program, fixtures/attack/probe.c) and PHP code in their own DocumentRoots, and by another
# local user. Each Describe names the hole it proves closed. itkd is started with Start-ItkServer
# (its own session, no terminal) and, for the terminal attack, in the foreground under a pty.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Port = 18301
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Www = Join-Path $Base 'www'
    $script:Sock = Join-Path $Base 'itkd.sock'
    $script:LogFile = Join-Path $Base 'itkd.log'
    $script:Bin = Join-Path $Base 'bin'
    $script:Itkd = Join-Path (Split-Path $env:ITKPS_MODULE_PATH) 'itkd/itkd'
    New-Item -ItemType Directory $Bin, $Www | Out-Null
    chmod 0755 $Bin $Www
    foreach ($tool in 'probe', 'swap') {
        & gcc -O2 -o "$Bin/$tool" (Join-Path $PSScriptRoot "fixtures/attack/$tool.c")
        if ($LASTEXITCODE -ne 0) { throw "gcc $tool failed" }
    }
    foreach ($t in 'a', 'b', 'c') { New-TestUser "itka-$t" }

    # Tenant a keeps its logs in a directory it can write; tenant b's are in a root-only one.
    $script:TenantLogs = Join-Path $Base 'tenantlogs/a'
    $script:RootLogs = Join-Path $Base 'logs'
    $script:RootOnly = Join-Path $Base 'rootonly'
    New-Item -ItemType Directory $TenantLogs, $RootLogs, $RootOnly | Out-Null
    chmod 0755 (Split-Path $TenantLogs); chown itka-a:itka-a $TenantLogs; chmod 0700 $RootOnly

    foreach ($t in 'a', 'b', 'c') {
        $d = Join-Path $Www $t
        New-Item -ItemType Directory -Force "$d/d" | Out-Null
        Set-Content "$d/index.html" "index of tenant $t"
        Copy-Item "$Bin/probe" "$d/probe.cgi"
        Set-Content "$d/probe.php" @'
<?php
foreach (scandir('/proc/self/fd') as $f) { if ($f[0] === '.') continue; echo $f, ' ', @readlink("/proc/self/fd/$f"), "\n"; }
echo 'tty: ', @fopen('/dev/tty', 'r+') ? 'open' : 'refused', "\n";
'@
        Set-Content "$d/forge.php" "<?php file_put_contents('php://stderr', `"\n2026-01-01T00:00:00.000Z itkd[1] master uid=0 E1001 MasterStarted: forged-by-php \033[2J\n`"); echo 'done';"
        New-ItkVhost -ConfigRoot $Root -Name "$t.itka.test" -DocumentRoot $d -Listen "127.0.0.1:$Port" -User "itka-$t" -Php FastCgi -Cgi -WarningAction SilentlyContinue
        Set-ItkUser -ConfigRoot $Root -Name "$t.itka.test" -User "itka-$t" -FixPermissions | Out-Null
    }
    $aFile = Join-Path $Root 'vhosts.d/a.itka.test.conf'
    (Get-Content -Raw $aFile) -replace '</VirtualHost>', "    CustomLog $TenantLogs/access.log combined`n</VirtualHost>" | Set-Content $aFile -NoNewline
    $bFile = Join-Path $Root 'vhosts.d/b.itka.test.conf'
    (Get-Content -Raw $bFile) -replace '</VirtualHost>', "    CustomLog $RootLogs/b-access.log combined`n    ErrorLog $RootLogs/b-error.log`n</VirtualHost>" | Set-Content $bFile -NoNewline
    # A vhost without AssignUserID: it runs as the server's User (www-data), as under mpm-itk.
    $d = Join-Path $Www 'd'
    New-Item -ItemType Directory $d | Out-Null
    Copy-Item "$Bin/probe" "$d/probe.cgi"
    New-ItkVhost -ConfigRoot $Root -Name 'd.itka.test' -DocumentRoot $d -Listen "127.0.0.1:$Port" -Cgi -WarningAction SilentlyContinue
    chown -R www-data:www-data $d; chmod 0750 $d

    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -PassThru
    foreach ($t in 'a', 'b', 'c', 'd') { $null = Get-HttpStatus $Port "$t.itka.test" '/probe.cgi' }

    function script:Get-Body([string] $HostName, [string] $Path, [int] $MaxTime = 10) {
        (& curl -s --max-time $MaxTime -H "Host: $HostName" "http://127.0.0.1:$Port$Path") -join "`n"
    }
    function script:Get-Pool([string] $User) { (Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq $User }
    # /proc/PID/stat's fields after the command name (which may hold spaces): [0] state, [1] ppid, [4] tty_nr.
    function script:Get-StatFields([int] $ProcessId) {
        $stat = Get-Content "/proc/$ProcessId/stat" -ErrorAction SilentlyContinue
        if ($stat) { $stat.Substring($stat.LastIndexOf(')') + 2) -split ' ' }
    }
    # Every process of a running itkd: the master and its children.
    function script:Get-ServerPids([int] $Master) {
        @($Master) + @(Get-ChildItem /proc -Directory | Where-Object Name -match '^\d+$' | ForEach-Object {
            if ((Get-StatFields ([int]$_.Name))?[1] -eq "$Master") { [int]$_.Name }
        })
    }
    # The socket (or pipe) inodes a set of processes holds (as root, from /proc/PID/fd).
    function script:Get-SocketInodes([int[]] $Pids, [string] $Kind = 'socket') {
        foreach ($p in $Pids) {
            Get-ChildItem "/proc/$p/fd" -ErrorAction SilentlyContinue | ForEach-Object {
                $t = (Get-Item $_.FullName -ErrorAction SilentlyContinue).LinkTarget
                if ($t -match "^$($Kind):\[(\d+)\]$") { $Matches[1] }
            }
        }
    }
    function script:Get-TtyNr([int] $ProcessId) { [int](Get-StatFields $ProcessId)[4] }
}

AfterAll {
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30 -ErrorAction SilentlyContinue
    }
    Get-Process -ErrorAction SilentlyContinue | Where-Object { $_.Path -like "$Base/*" } | ForEach-Object { kill -9 $_.Id }
    foreach ($t in 'a', 'b', 'c') { pkill -9 -u "itka-$t" 2>$null }
    Remove-TestUser 'itka-a', 'itka-b', 'itka-c'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'Descriptors: tenant code holds none of the server''s' {
    It 'a CGI program holds only its stdin, stdout and stderr, all pipes' {
        $lines = (Get-Body 'a.itka.test' '/probe.cgi?fds') -split "`n" | Where-Object { $_ }
        ($lines | ForEach-Object { ($_ -split ' ')[0] } | Sort-Object) | Should -Be @('0', '1', '2')
        foreach ($l in $lines) { ($l -split ' ', 2)[1] | Should -Match '^pipe:\[\d+\]$' }
    }

    It 'a PHP page holds no socket, file or terminal of the server' {
        $server = Get-ServerPids $Server.Pid
        $serverSockets = @(Get-SocketInodes $server)
        $serverSockets.Count | Should -BeGreaterThan 3
        $serverPipes = @(Get-SocketInodes $server 'pipe')
        $out = (Get-Body 'a.itka.test' '/probe.php') -split "`n" | Where-Object { $_ }
        $out | Should -Contain 'tty: refused'
        $fds = $out | Where-Object { $_ -match '^\d+ ' }
        $fds.Count | Should -BeGreaterThan 2
        foreach ($l in $fds) {
            $fd, $target = $l -split ' ', 2
            $target | Should -Not -Match '^/dev/(pts|tty)' -Because "fd $fd"
            $target | Should -Not -BeIn @($LogFile, "$TenantLogs/access.log", "$RootLogs/b-access.log") -Because "fd $fd"
            if ($target -match '^socket:\[(\d+)\]$') { $Matches[1] | Should -Not -BeIn $serverSockets -Because "fd $fd ($target) is a socket of the server" }
            # PHP runs in a php-fpm child: its own pipes are php-fpm's; a pipe to itkd only as a standard stream
            if ($target -match '^pipe:\[(\d+)\]$' -and $serverPipes -contains $Matches[1]) { [int]$fd | Should -BeLessThan 3 -Because "only its standard streams are pipes to its worker ($l)" }
        }
    }

    It 'no dispatcher or worker holds the master''s log, a listener or a terminal' {
        $listeners = @(Get-SocketInodes $Server.Pid)
        foreach ($p in (Get-ServerPids $Server.Pid | Where-Object { $_ -ne $Server.Pid })) {
            $targets = Get-ChildItem "/proc/$p/fd" | ForEach-Object { (Get-Item $_.FullName).LinkTarget }
            $targets | Should -Not -Contain $LogFile
            ($targets | Where-Object { $_ -match '^/dev/(pts|tty)' }) | Should -BeNullOrEmpty
            (Get-TtyNr $p) | Should -Be 0
        }
        # the dispatcher holds the listeners (dup'd from the master); workers hold none of them
        foreach ($w in (Get-ItkServer -ControlSocket $Sock).Pools.WorkerPids) {
            $ws = @(Get-SocketInodes $w)
            ($ws | Where-Object { $listeners -contains $_ }) | Should -BeNullOrEmpty
        }
    }
}

Describe 'The operator''s terminal: itkd in the foreground of a root shell' {
    It 'no tenant process can open /dev/tty or push keystrokes into it' {
        $fg = Join-Path $Base 'fg'
        New-Item -ItemType Directory $fg | Out-Null
        @"
Listen 127.0.0.1:18302
User www-data
Group www-data
<VirtualHost 127.0.0.1:18302>
    ServerName c.itka.test
    DocumentRoot $Www/c
    AssignUserID itka-c itka-c
    Options +ExecCGI
    AddHandler cgi-script .cgi
</VirtualHost>
"@ | Set-Content "$fg/itkd.conf"
        $fgSock = "$fg/itkd.sock"
        # script(1) gives the shell a pseudo-terminal as its controlling terminal; itkd runs as the
        # shell's child in the foreground, as an operator would start it.
        $pty = Start-Tool script @('-qfec', "bash -c '$Itkd --config $fg/itkd.conf --control-socket $fgSock; echo itkd-ended'", "$fg/typescript")
        $master = 0
        try {
            Wait-Until { Get-ItkServer -ControlSocket $fgSock -ErrorAction SilentlyContinue } -TimeoutSeconds 20 -What 'itkd under a pty'
            $master = (Get-ItkServer -ControlSocket $fgSock).Pid
            $master | Should -BeGreaterThan 1
            (Get-Content -Raw "/proc/$master/cmdline") | Should -Match '^itkd: master'
            $probe = (& curl -s --max-time 10 -H 'Host: c.itka.test' 'http://127.0.0.1:18302/probe.cgi?tty') -join "`n"
            $probe | Should -Match 'open /dev/tty: ENXIO'
            $probe | Should -Match 'TIOCSTI on 0: ENOTTY'
            $probe | Should -Match 'TIOCSTI on 1: ENOTTY'
            $probe | Should -Match 'TIOCSTI on 2: ENOTTY'
            foreach ($p in Get-ServerPids $master) { (Get-TtyNr $p) | Should -Be 0 -Because "pid $p has no controlling terminal" }
            (Get-Content -Raw "$fg/typescript") | Should -Match 'listening on 127\.0\.0\.1:18302' -Because 'its own output still reaches the terminal'
        } finally {
            # the master by its pid (a hung-up terminal would only send it SIGHUP, which reloads)
            if ($master -gt 1 -and (Test-Path "/proc/$master")) { kill -TERM $master; Wait-Until { -not (Test-Path "/proc/$master") } -TimeoutSeconds 30 -What 'the foreground itkd to stop' }
            if (-not $pty.HasExited) { kill -9 $pty.Id }
        }
    }
}

Describe 'One tenant cannot slow or stop another' {
    It 'a CGI stops its own worker; 400 connections to its site; the other tenant is served at normal latency throughout' {
        $aWorker = (Get-Pool 'itka-a').WorkerPids[0]
        $null = Get-Body 'a.itka.test' '/probe.cgi?stop' -MaxTime 2  # its answer never comes: the worker is stopped
        Wait-Until { (Get-StatFields $aWorker)[0] -eq 'T' } -What 'the worker to be stopped'
        # 400 connections at once: two curls of 200 (curl runs at most 300 transfers in parallel)
        $cfg = Join-Path $Base 'flood.curl'
        (1..200 | ForEach-Object { "url = `"http://127.0.0.1:$Port/index.html`"`noutput = `"/dev/null`"" }) -join "`n" | Set-Content $cfg
        $floods = foreach ($i in 1, 2) { Start-Tool curl @('-s', '--parallel', '--parallel-immediate', '--parallel-max', '200', '--max-time', '30', '-H', 'Host: a.itka.test', '-H', 'Connection: close', '-w', "%{http_code}\n", '-K', $cfg) (Join-Path $Base "flood$i.out") }
        Wait-Until { (@(& ss -Htn state established '( sport = :18301 )').Count) -ge 400 } -What '400 connections to tenant a' 
        $times = foreach ($i in 1..100) {
            $r = (& curl -s -o /dev/null -w '%{http_code} %{time_total}' -H 'Host: b.itka.test' "http://127.0.0.1:$Port/index.html") -split ' '
            $r[0] | Should -Be '200'
            [double]::Parse($r[1], [Globalization.CultureInfo]::InvariantCulture)
        }
        $slowest = ($times | Measure-Object -Maximum).Maximum
        $slowest | Should -BeLessThan 1.0 -Because "tenant b's slowest of 100 requests took $slowest s while tenant a's worker was stopped"
        foreach ($f in $floods) { $f.WaitForExit(60000) | Should -BeTrue }
        $codes = @($floods | ForEach-Object { $_.OutputText.Result -split "`n" } | Where-Object { $_ })
        $codes.Count | Should -Be 400
        # Those waiting in the dispatcher get 503; the few already in the stopped worker's channel
        # go with it when it is killed (000).
        @($codes | Where-Object { $_ -eq '503' }).Count | Should -BeGreaterOrEqual 300 -Because 'connections waiting for the stopped worker get 503'
        ($codes | Where-Object { $_ -notin '503', '000' }) | Should -BeNullOrEmpty
        Wait-Until { -not (Test-Path "/proc/$aWorker") } -What 'the stopped worker to be ended'
        Select-String -Path $LogFile -Pattern "E2011 WorkerUnresponsive: itka-a pid $aWorker" -Quiet | Should -BeTrue
        Wait-Until { (Get-HttpStatus $Port 'a.itka.test' '/index.html') -eq 200 } -TimeoutSeconds 20 -What 'tenant a to be served by a new worker'
    }

    It 'a worker killed while its CGI''s detached grandchild lives is replaced at once' {
        (Get-Body 'a.itka.test' '/probe.cgi?setsid') | Should -Match 'detached'
        $grandchild = @(pgrep -u itka-a -x probe.cgi)
        $grandchild.Count | Should -BeGreaterThan 0
        foreach ($g in $grandchild) {
            (Get-ChildItem "/proc/$g/fd" -ErrorAction SilentlyContinue | ForEach-Object { (Get-Item $_.FullName).LinkTarget } | Where-Object { $_ -match '^socket:' }) |
                Should -BeNullOrEmpty -Because 'the grandchild holds no channel'
        }
        $before = (Get-Pool 'itka-a').WorkerPids[0]
        $null = Get-Body 'a.itka.test' '/probe.cgi?kill' -MaxTime 2
        Wait-Until { -not (Test-Path "/proc/$before") } -What 'the worker to die'
        Wait-Until { (Get-HttpStatus $Port 'a.itka.test' '/index.html') -eq 200 } -TimeoutSeconds 5 -What 'a new worker'
        (Get-Pool 'itka-a').WorkerPids[0] | Should -Not -Be $before
        foreach ($g in $grandchild) { kill -9 $g 2>$null }
    }

    It 'a worker its tenant makes exit cleanly (SIGTERM, status 0) counts as a crash' {
        $before = (Get-Pool 'itka-c').Crashes
        $worker = (Get-Pool 'itka-c').WorkerPids[0]
        $null = Get-Body 'c.itka.test' '/probe.cgi?term' -MaxTime 5
        Wait-Until { -not (Test-Path "/proc/$worker") } -What 'the worker to exit'
        Wait-Until { (Get-Pool 'itka-c').Crashes -eq $before + 1 } -What 'the crash to be counted'
        Select-String -Path $LogFile -Pattern "worker $worker ended unexpectedly \(status 0\)" -Quiet | Should -BeTrue
    }
}

Describe 'Messages: a tenant has no channel to forge reports on' {
    It 'a CGI that sends Closed reports on every descriptor it could hold reaches nothing' {
        (Get-Body 'b.itka.test' '/probe.cgi?forge') | Should -Match '(?m)^sent 0$'
    }
}

Describe 'Files root touches' {
    It 'refuses a control socket in a directory others can write, or that another user owns' {
        $open = Join-Path $Base 'open'
        $owned = Join-Path $Base 'owned'
        New-Item -ItemType Directory $open, $owned | Out-Null
        chmod 0777 $open; chown itka-b $owned
        foreach ($dir in $open, $owned) {
            $e = { Start-ItkServer -ConfigRoot $Root -ControlSocket "$dir/itkd.sock" -LogPath "$Base/refused.log" -TimeoutSeconds 10 -ErrorAction Stop } | Should -Throw -PassThru
            $e.FullyQualifiedErrorId | Should -Match 'ServerStartFailed'
            $e.Exception.Message | Should -Match "control socket $([regex]::Escape($dir))/itkd\.sock: '$([regex]::Escape($dir))' can be changed by"
            Test-Path "$dir/itkd.sock" | Should -BeFalse
        }
    }

    It 'keeps nothing on disk beside its control socket: snapshots travel in sealed memory files' {
        @(Get-ChildItem $Base -Directory -Filter 'itkd-*') | Should -BeNullOrEmpty
        foreach ($w in (Get-ItkServer -ControlSocket $Sock).Pools.WorkerPids) {
            (Get-ChildItem "/proc/$w/fd" | ForEach-Object { (Get-Item $_.FullName).LinkTarget } | Where-Object { $_ -match 'snapshot|memfd' }) | Should -BeNullOrEmpty
        }
    }

    It 'never opens a log as root where the tenant can steer it: a symlink into a root-only directory stays untouched' {
        $victim = Join-Path $RootOnly 'victim.log'
        (Invoke-AsUser 'itka-a' @('ln', '-sfn', $victim, "$TenantLogs/access.log")).ExitCode | Should -Be 0
        $worker = (Get-Pool 'itka-a').WorkerPids[0]
        $null = Get-Body 'a.itka.test' '/probe.cgi?kill' -MaxTime 2       # a new worker opens its logs again
        Wait-Until { -not (Test-Path "/proc/$worker") } -What 'the worker to die'
        Wait-Until { (Get-HttpStatus $Port 'a.itka.test' '/index.html') -eq 200 } -TimeoutSeconds 10 -What 'a new worker'
        $null = Restart-ItkServer -ControlSocket $Sock -PassThru              # and a reload opens them again
        Wait-Until { (Get-HttpStatus $Port 'a.itka.test' '/index.html') -eq 200 } -What 'the reloaded server'
        Test-Path $victim | Should -BeFalse
        Select-String -Path $LogFile -Pattern "E1018 LogOpenedByUser: .*a\.itka\.test\.conf:\d+: CustomLog $([regex]::Escape($TenantLogs))/access\.log: not opened as root" -Quiet | Should -BeTrue
        $warning = Test-ItkConfig -ConfigRoot $Root | Where-Object { $_.Message -match 'CustomLog' }
        $warning.Severity | Should -Be 'Warning'
        $warning.Message | Should -Match "'$([regex]::Escape($TenantLogs))' can be changed by its owner itka-a"
        $warning.File | Should -Be $aFile
    }

    It 'opens a log in a root-only directory itself and hands the descriptor over' {
        $null = Get-Body 'b.itka.test' '/index.html'
        Wait-Until { (Test-Path "$RootLogs/b-access.log") -and (Get-Item "$RootLogs/b-access.log").Length -gt 0 } -What 'b''s access log'
        (& stat -c '%U' "$RootLogs/b-access.log") | Should -Be 'root'
        $w = (Get-Pool 'itka-b').WorkerPids[0]
        (Get-ChildItem "/proc/$w/fd" | ForEach-Object { (Get-Item $_.FullName).LinkTarget }) | Should -Contain "$RootLogs/b-access.log"
    }
}

Describe 'The dispatcher''s own account' {
    It 'a vhost without AssignUserID runs as User, not as the dispatcher, and its CGI cannot signal the dispatcher' {
        $dispatcher = (Get-ItkServer -ControlSocket $Sock).DispatcherPid
        (Get-Body 'd.itka.test' '/probe.cgi') | Should -Match "uid $(& id -u www-data)"
        (& stat -c '%U' "/proc/$dispatcher") | Should -Be 'itkd'
        (Get-Body 'd.itka.test' "/probe.cgi?signal=$dispatcher") | Should -Match "signal $($dispatcher): EPERM"
    }

    It 'refuses, with file:line, a vhost that would run as the dispatcher''s account' {
        $bad = Join-Path $Base 'bad'
        New-Item -ItemType Directory "$bad/vhosts.d" | Out-Null
        "Listen 127.0.0.1:18303`nUser www-data`nGroup www-data`nIncludeOptional $bad/vhosts.d/*.conf" | Set-Content "$bad/itkps.conf"
        "<VirtualHost 127.0.0.1:18303>`nServerName x.test`nDocumentRoot $Www/c`nAssignUserID itkd itkd`n</VirtualHost>" | Set-Content "$bad/vhosts.d/x.conf"
        $e = { Start-ItkServer -ConfigRoot $bad -ControlSocket "$bad/itkd.sock" -LogPath "$bad/itkd.log" -TimeoutSeconds 10 -ErrorAction Stop } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match "x\.conf:4: error: vhost x\.test would run as itkd:itkd, the account of itkd's dispatcher"
    }
}

Describe 'Logs: what tenants and clients write is escaped and labelled' {
    It 'escapes quotes, backslashes and non-ASCII bytes in the access log exactly as Apache does' {
        $ua = 'evil "quoted" back\slash é'
        $apacheLog = Join-Path $Base 'apache-access.log'
        $apacheConf = Join-Path $Base 'apache.conf'
        @(
            (Get-ApacheTestConfig $Base @('authz_core'))
            'Listen 127.0.0.1:18304', 'User www-data', 'Group www-data'
            'LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined'
            "<VirtualHost 127.0.0.1:18304>`nServerName b.itka.test`nDocumentRoot $Www/b`nAssignUserID itka-b itka-b`nCustomLog $apacheLog combined`n<Directory $Www/b>`nRequire all granted`n</Directory>`n</VirtualHost>"
        ) -join "`n" | Set-Content $apacheConf
        & apache2 -f $apacheConf -k start
        try {
            Wait-Until { (& curl -s -o /dev/null -w '%{http_code}' -H 'Host: b.itka.test' 'http://127.0.0.1:18304/index.html') -eq '200' } -What 'Apache'
            foreach ($p in 18304, $Port) { $null = & curl -s -o /dev/null -A $ua -e 'http://ref.example/"x"' -H 'Host: b.itka.test' "http://127.0.0.1:$p/index.html?q=%1b" }
            Wait-Until { (Select-String -Path "$RootLogs/b-access.log" -Pattern 'evil' -Quiet) -and (Select-String -Path $apacheLog -Pattern 'evil' -Quiet) } -What 'both logs'
        } finally {
            & apache2 -f $apacheConf -k stop
            Wait-Until { -not (Test-Path "$Base/apache.pid") } -What 'Apache to stop'
        }
        $fields = { param($line) ($line -split '\] ', 2)[1] }  # all but the client and the time
        $itkd = (Get-Content "$RootLogs/b-access.log" | Select-String 'evil' | Select-Object -Last 1).Line
        $apache = (Get-Content $apacheLog | Select-String 'evil' | Select-Object -Last 1).Line
        & $fields $itkd | Should -Be (& $fields $apache)
        $itkd | Should -Match ([regex]::Escape('"evil \"quoted\" back\\slash \xc3\xa9"'))
    }

    It 'escapes terminal control bytes a client puts in User-Agent and Referer (Apache refuses such a request)' {
        $null = & curl -s -o /dev/null -A "evil`e[2J`a" -e "http://ref.example/`e]0;title`a" -H 'Host: b.itka.test' "http://127.0.0.1:$Port/index.html"
        Wait-Until { Select-String -Path "$RootLogs/b-access.log" -SimpleMatch 'evil\x1b[2J\x07' -Quiet } -What 'the escaped line'
        (Select-String -Path "$RootLogs/b-access.log" -SimpleMatch 'evil\x1b').Line | Should -Match ([regex]::Escape('"http://ref.example/\x1b]0;title\x07" "evil\x1b[2J\x07"'))
        [IO.File]::ReadAllBytes("$RootLogs/b-access.log") | Where-Object { $_ -lt 0x20 -and $_ -ne 0x0a } | Should -BeNullOrEmpty
    }

    It 'a tenant''s PHP and CGI writing fake server lines to stderr are labelled as theirs and escaped' {
        (Get-Body 'a.itka.test' '/forge.php') | Should -Be 'done'
        (Get-Body 'b.itka.test' '/probe.cgi?stderr') | Should -Match 'wrote to stderr'
        $aUid = & id -u itka-a
        Wait-Until { Select-String -Path $LogFile -Pattern 'forged-by-php' -Quiet } -What 'php-cgi''s stderr in the log'
        foreach ($l in (Select-String -Path $LogFile -Pattern 'forged-by-php').Line) {
            $l | Should -Match "^\S+ itkd\[\d+\] worker itka-a uid=$aUid E3011 PhpOutput: php-fpm \d+: "
        }
        [IO.File]::ReadAllBytes($LogFile) | Where-Object { $_ -eq 0x1b } | Should -BeNullOrEmpty
        Wait-Until { (Test-Path "$RootLogs/b-error.log") -and (Select-String -Path "$RootLogs/b-error.log" -Pattern 'forged' -Quiet) } -What 'the CGI''s stderr in its ErrorLog'
        (Select-String -Path "$RootLogs/b-error.log" -Pattern 'forged').Line | Should -Match '^\[.*\] \[itkd:error\] \[pid \d+\] \[client 127\.0\.0\.1:\d+\] probe\.cgi: .*\\x1b\[2J'
    }

    It 'Kestrel''s own errors reach itkd''s log, labelled as the worker''s' {
        $null = Get-HttpStatus $Port 'c.itka.test' '/probe.cgi?badheader'
        Wait-Until { Select-String -Path $LogFile -Pattern 'worker itka-c uid=\d+ E3010 Kestrel: Error' -Quiet } -What 'Kestrel''s error in the log'
    }
}

Describe 'Tree walks as root: the permission fixer against a tenant swapping a directory and a symlink' {
    It 'Set-ItkUser -FixPermissions changes nothing outside the DocumentRoot while the swap runs' {
        $outside = Join-Path $Base 'outside'
        New-Item -ItemType Directory "$outside/inner" | Out-Null
        Set-Content "$outside/secret" 'root only'; Set-Content "$outside/inner/deep" 'root only'
        chmod 0700 $outside "$outside/inner"; chmod 0600 "$outside/secret" "$outside/inner/deep"
        $c = Join-Path $Www 'c'
        Set-Content "$c/d/file" 'of tenant c'
        $null = Set-ItkUser -ConfigRoot $Root -Name 'c.itka.test' -User 'itka-c' -FixPermissions
        (Invoke-AsUser 'itka-c' @('ln', '-s', $outside, "$c/l")).ExitCode | Should -Be 0
        $before = Get-TreeSnapshot $outside
        $swap = Start-Tool runuser @('-u', 'itka-c', '--', "$Bin/swap", "$c/d", "$c/l")
        try {
            foreach ($i in 1..30) { $null = Set-ItkUser -ConfigRoot $Root -Name 'c.itka.test' -User 'itka-c' -FixPermissions -ErrorAction SilentlyContinue }
            $swap.HasExited | Should -BeFalse -Because 'the swap ran all along'
        } finally { if (-not $swap.HasExited) { pkill -9 -u itka-c -x swap; $swap.WaitForExit(5000) | Out-Null } }
        Get-TreeSnapshot $outside | Should -Be $before
        (& stat -c '%U:%G %a' $outside) | Should -Be 'root:root 700'
    }
}
