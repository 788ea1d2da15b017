# itkd with real root, real users, real processes, loopback only. Each Describe says which
# invariant it proves. The server is started with Start-ItkServer and stopped by its pid.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Port = 18211
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Www = Join-Path $Base 'www'
    $script:Sock = Join-Path $Base 'itkd.sock'
    $script:LogFile = Join-Path $Base 'itkd.log'
    New-TestUser 'itkt-a'; New-TestUser 'itkt-b'
    foreach ($t in 'a', 'b') {
        $d = Join-Path $Www $t
        New-Item -ItemType Directory -Force "$d/sub", "$d/empty", "$d/secret-dir" | Out-Null
        Set-Content "$d/index.html" "index of tenant $t"
        Set-Content "$d/page.txt" "text of tenant $t"
        Set-Content "$d/sub/index.html" "sub of tenant $t"
        Set-Content "$d/.htpasswd" "$($t)user:{SHA}secret-of-$t"
        Set-Content "$d/.htaccess" 'Deny from all'
        Set-Content "$d/secret-dir/data.txt" "locked of tenant $t"
        [IO.File]::WriteAllBytes("$d/big.bin", [byte[]]::new(20MB))
        New-ItkVhost -ConfigRoot $Root -Name "$t.itkt.test" -DocumentRoot $d -Listen "127.0.0.1:$Port" -Alias "www.$t.itkt.test" -User "itkt-$t" -WarningAction SilentlyContinue
        Set-ItkUser -ConfigRoot $Root -Name "$t.itkt.test" -User "itkt-$t" -FixPermissions | Out-Null
        # a directory its own user cannot enter (EACCES even for the owner), like a mistake on disk
        chmod 0000 "$d/secret-dir"
    }
    chmod 0755 $Www
    # tenant a logs like Apache: files opened by the worker while still root
    $script:Logs = Join-Path $Base 'logs'
    New-Item -ItemType Directory $Logs | Out-Null
    $aFile = Join-Path $Root 'vhosts.d/a.itkt.test.conf'
    (Get-Content -Raw $aFile) -replace '</VirtualHost>', "    CustomLog $Logs/a-access.log combined`n    ErrorLog $Logs/a-error.log`n</VirtualHost>" | Set-Content $aFile -NoNewline
    # mod_reqtimeout's directive: a client has 2 s to send its request head.
    Add-Content (Join-Path $Root 'itkps.conf') 'RequestReadTimeout header=2'

    # tenant a links to tenant b's page: only the kernel stands in the way
    New-Item -ItemType SymbolicLink -Path "$Www/a/link-to-b.txt" -Target "$Www/b/page.txt" | Out-Null
    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -PassThru
    # warm both pools
    $null = Get-HttpStatus $Port 'a.itkt.test' '/'; $null = Get-HttpStatus $Port 'b.itkt.test' '/'
}

AfterAll {
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30 -ErrorAction SilentlyContinue
    }
    Remove-TestUser 'itkt-a', 'itkt-b'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'itkd processes (/proc/PID/status)' {
    BeforeAll {
        function Get-Status([int] $ProcessId) {
            $s = @{}
            foreach ($l in Get-Content "/proc/$ProcessId/status") { $k, $v = $l -split ":\s*", 2; $s[$k] = $v }
            $s
        }
        $script:Children = @(Get-ChildItem /proc -Directory | Where-Object Name -match '^\d+$' | ForEach-Object {
            $st = Get-Status ([int]$_.Name) 2>$null
            if ($st -and $st.PPid -eq "$($Server.Pid)") { [pscustomobject]@{ Pid = [int]$_.Name; Status = $st; Title = (Get-Content -Raw "/proc/$($_.Name)/cmdline") -replace "`0", ' ' } }
        })
    }

    It 'the master is root and titled "itkd: master"' {
        (Get-Status $Server.Pid).Uid | Should -Match '^0\s'
        (Get-Content -Raw "/proc/$($Server.Pid)/cmdline") | Should -Match '^itkd: master'
    }

    It 'no child of the master keeps uid 0' {
        $Children.Count | Should -BeGreaterOrEqual 3
        foreach ($c in $Children) {
            ($c.Status.Uid -split '\s+') | Should -Not -Contain '0' -Because $c.Title
            ($c.Status.Gid -split '\s+') | Should -Not -Contain '0' -Because $c.Title
        }
    }

    It 'the dispatcher runs as its own account itkd (no vhost''s), with NoNewPrivs' {
        $d = $Children | Where-Object Title -like 'itkd: dispatcher*'
        $uid = (& id -u itkd)
        $uid | Should -Not -BeIn @((& id -u www-data), (& id -u itkt-a), (& id -u itkt-b))
        ($d.Status.Uid -split '\s+') | Should -Be @($uid, $uid, $uid, $uid)
        $d.Status.NoNewPrivs | Should -Be '1'
    }

    It 'each worker has exactly its vhost user''s uid, gid and groups, and NoNewPrivs' {
        foreach ($t in 'a', 'b') {
            $w = $Children | Where-Object Title -like "itkd: worker itkt-$t *"
            $w | Should -HaveCount 1
            $uid = (& id -u "itkt-$t"); $gid = (& id -g "itkt-$t")
            ($w.Status.Uid -split '\s+') | Should -Be @($uid, $uid, $uid, $uid)
            ($w.Status.Gid -split '\s+') | Should -Be @($gid, $gid, $gid, $gid)
            (($w.Status.Groups.Trim() -split '\s+') | Sort-Object) | Should -Be ((& id -G "itkt-$t") -split ' ' | Sort-Object)
            $w.Status.NoNewPrivs | Should -Be '1'
        }
    }

    It 'Get-ItkServer shows the listeners and one pool per user' {
        $s = Get-ItkServer -ControlSocket $Sock
        $s.Listeners | Should -Be @("127.0.0.1:$Port")
        ($s.Pools.User | Sort-Object) | Should -Be @('itkt-a', 'itkt-b')
        ($s.Pools | Where-Object User -eq 'itkt-a').Workers | Should -Be 1
    }
}

Describe 'Tenant isolation over HTTP' {
    It 'serves each tenant its own files' {
        (curl -s -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/page.txt") | Should -Be 'text of tenant a'
        (curl -s -H 'Host: b.itkt.test' "http://127.0.0.1:$Port/page.txt") | Should -Be 'text of tenant b'
        (curl -s -H 'Host: www.b.itkt.test' "http://127.0.0.1:$Port/") | Should -Be 'index of tenant b'
    }

    It 'no URL on a''s host returns b''s content' {
        $b = "$Www/b"
        $paths = @(
            '/../b/page.txt', '/%2e%2e/b/page.txt', '/%2E%2E/%2E%2E/www/b/page.txt', '/..%2fb%2fpage.txt', '/%2e%2e%2fb%2fpage.txt',
            '/..\b\page.txt', '/%5c..%5cb%5cpage.txt', '/sub/../../b/page.txt', '/./../b/page.txt', "/$b/page.txt", "/..$b/page.txt",
            '/link-to-b.txt', '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e' + "$b/page.txt", "http://b.itkt.test/page.txt"
        )
        foreach ($p in $paths) {
            $body = curl -s --path-as-is -H 'Host: a.itkt.test' "http://127.0.0.1:$Port$($p -replace '^http://b.itkt.test','')"
            $body | Should -Not -Match 'tenant b' -Because $p
        }
        foreach ($h in 'a.itkt.test:1', 'A.ITKT.TEST.', 'b.itkt.test@a.itkt.test', 'a.itkt.test b.itkt.test', 'a.itkt.test/../b.itkt.test') {
            curl -s -H "Host: $h" "http://127.0.0.1:$Port/page.txt" | Should -Not -Match 'tenant b' -Because $h
        }
        (Get-HttpStatus $Port 'a.itkt.test' '/link-to-b.txt') | Should -Be 403 -Because 'the kernel refuses tenant a the file of tenant b'
    }

    It 'never serves .ht* files' {
        (Get-HttpStatus $Port 'a.itkt.test' '/.htpasswd') | Should -Be 403
        (Get-HttpStatus $Port 'b.itkt.test' '/.htaccess') | Should -Be 403
        (Get-HttpStatus $Port 'b.itkt.test' '/%2ehtpasswd') | Should -Be 403
    }

    It 'answers 421 and closes when a reused connection asks for the other user''s vhost' {
        $r = Invoke-RawHttp -Port $Port -Requests @(
            "GET /page.txt HTTP/1.1`r`nHost: a.itkt.test`r`n`r`n",
            "GET /page.txt HTTP/1.1`r`nHost: b.itkt.test`r`n`r`n",
            "GET /page.txt HTTP/1.1`r`nHost: a.itkt.test`r`n`r`n")
        $r.Responses[0].Status | Should -Be 200
        $r.Responses[0].Body | Should -Match 'tenant a'
        $r.Responses[1].Status | Should -Be 421
        $r.Responses[1].Headers['connection'] | Should -Be 'close'
        $r.Responses[1].Body | Should -Not -Match 'tenant b'
        $r.Responses.Count | Should -Be 2 -Because 'the server closed the connection after the 421'
    }

    It 'keeps serving the same user''s vhosts on one connection' {
        $r = Invoke-RawHttp -Port $Port -Requests @(
            "GET /page.txt HTTP/1.1`r`nHost: a.itkt.test`r`n`r`n",
            "GET / HTTP/1.1`r`nHost: www.a.itkt.test`r`n`r`n")
        $r.Responses.Status | Should -Be @(200, 200)
        $r.Closed | Should -BeFalse
    }
}

Describe 'Small files the worker keeps in memory never go stale' {
    BeforeAll {
        $script:M = "$Www/a/mem"
        New-Item -ItemType Directory -Force $M | Out-Null
        Set-Content -NoNewline -Path "$M/page.txt" -Value 'first version'
        Set-Content -NoNewline -Path "$M/locked.txt" -Value 'first version'
        Set-Content -NoNewline -Path "$M/one.txt" -Value 'target one'
        Set-Content -NoNewline -Path "$M/two.txt" -Value 'target two'
        New-Item -ItemType SymbolicLink -Path "$M/link.txt" -Target "$M/one.txt" | Out-Null
        chown -h -R itkt-a:itkt-a $M
        # the worker keeps only files changed more than a second before the request: wait until these are
        $newest = ((Get-ChildItem $M -File | ForEach-Object { [long](stat -c %Z $_.FullName) }) | Measure-Object -Maximum).Maximum
        while ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() - $newest -lt 3) { Start-Sleep -Milliseconds 100 }
        function script:Body([string]$p) { curl -s -H 'Host: a.itkt.test' "http://127.0.0.1:$Port$p" }
    }

    It 'serves an overwrite of the same length at once' {
        1..3 | ForEach-Object { Body '/mem/page.txt' | Should -Be 'first version' }
        [IO.File]::WriteAllText("$M/page.txt", 'final version') # same inode, same size
        Body '/mem/page.txt' | Should -Be 'final version'
    }

    It 'refuses a file made unreadable at once' {
        1..3 | ForEach-Object { Get-HttpStatus $Port 'a.itkt.test' '/mem/locked.txt' | Should -Be 200 }
        chmod 0000 "$M/locked.txt"
        Get-HttpStatus $Port 'a.itkt.test' '/mem/locked.txt' | Should -Be 403
    }

    It 'follows a re-pointed link at once' {
        1..3 | ForEach-Object { Body '/mem/link.txt' | Should -Be 'target one' }
        ln -sfn "$M/two.txt" "$M/link.txt"
        Body '/mem/link.txt' | Should -Be 'target two'
    }
}

Describe 'Logs' {
    It 'writes the access log in Combined Log Format and errors to ErrorLog, both owned by root' {
        $null = curl -s -A 'itkt-agent' -e 'http://ref.example/' -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/page.txt?x=1"
        $null = Get-HttpStatus $Port 'a.itkt.test' '/missing.html'
        Wait-Until { (Test-Path "$Logs/a-access.log") -and (Select-String -Path "$Logs/a-access.log" -Pattern 'missing.html' -Quiet) } -What 'the access log'
        $line = Select-String -Path "$Logs/a-access.log" -Pattern 'itkt-agent' | Select-Object -Last 1
        $line.Line | Should -Match '^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET /page\.txt\?x=1 HTTP/1\.1" 200 17 "http://ref\.example/" "itkt-agent"$'
        Wait-Until { (Test-Path "$Logs/a-error.log") -and (Select-String -Path "$Logs/a-error.log" -Pattern 'missing.html' -Quiet) } -What 'the error log'
        # Apache's words and its AH number, with the file system path
        (Select-String -Path "$Logs/a-error.log" -Pattern 'missing.html').Line | Should -Match 'AH00128: File does not exist: \S*/missing\.html'
        (& stat -c '%U' "$Logs/a-access.log") | Should -Be 'root'
        (Invoke-AsUser 'itkt-a' @('sh', '-c', "echo forged >> $Logs/a-access.log")).ExitCode | Should -Not -Be 0 -Because 'a tenant cannot forge its own log'
        Test-Path "$Logs/b-access.log" | Should -BeFalse
    }
}

Describe 'Slow clients' {
    It 'an idle connection does not block others and a partial head gets 408' {
        $idle = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
        $partial = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
        try {
            $s = $partial.GetStream()
            $bytes = [Text.Encoding]::ASCII.GetBytes("GET /page.txt HTTP/1.1`r`nHost: a.itkt")
            $s.Write($bytes, 0, $bytes.Length)
            (Get-HttpStatus $Port 'a.itkt.test' '/page.txt') | Should -Be 200 -Because 'other clients are served meanwhile'
            $partial.ReceiveTimeout = 10000
            $reader = [IO.StreamReader]::new($s)
            $reader.ReadLine() | Should -Be 'HTTP/1.1 408 Request Timeout'
        } finally { $idle.Dispose(); $partial.Dispose() }
    }
}

Describe 'MaxClientsVHost and reload' {
    It 'a reload applies the new limit; over it the vhost answers 503 while others are served' {
        Set-ItkVhost -ConfigRoot $Root -Name 'b.itkt.test' -MaxClients 1
        $before = (Get-ItkServer -ControlSocket $Sock).Generation
        (Restart-ItkServer -ControlSocket $Sock -PassThru).Generation | Should -Be ($before + 1)
        $out = Join-Path $Base 'slow-b.bin'
        $slow = Start-Tool curl @('-s', '--limit-rate', '8M', '-H', 'Host: b.itkt.test', '-o', $out, "http://127.0.0.1:$Port/big.bin")
        try {
            Wait-Until { (Test-Path $out) -and (Get-Item $out).Length -gt 0 } -What 'the slow download to start'
            (Get-ItkServer -ControlSocket $Sock).Pools.User | Should -Contain 'itkt-b' 
            (Get-HttpStatus $Port 'b.itkt.test' '/page.txt') | Should -Be 503
            (Get-HttpStatus $Port 'a.itkt.test' '/page.txt') | Should -Be 200
        } finally { $slow.WaitForExit(30000) | Out-Null }
        (Get-HttpStatus $Port 'b.itkt.test' '/page.txt') | Should -Be 200 -Because 'the slot is free again'
    }

    It 'a bad configuration given to a reload keeps the old one running' {
        $file = Join-Path $Root 'vhosts.d/b.itkt.test.conf'
        $good = Get-Content -Raw $file
        try {
            Add-Content $file '<VirtualHost'
            Restart-ItkServer -ControlSocket $Sock -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'ReloadRejected,*'
            $err[0].Exception.Message | Should -Match 'b\.itkt\.test\.conf:\d+'
            (Get-HttpStatus $Port 'a.itkt.test' '/page.txt') | Should -Be 200
        } finally { Set-Content -Path $file -Value $good -NoNewline }
    }
}

Describe 'Supervision under load' {
    It 'a worker killed with SIGKILL under load is replaced; requests after the respawn succeed' {
        $victim = ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a').WorkerPids[0]
        $wrkOut = Join-Path $Base 'wrk-kill.txt'
        $wrk = Start-Tool wrk @('-t1', '-c4', '-d3s', '-H', 'Host: a.itkt.test', "http://127.0.0.1:$Port/page.txt") $wrkOut
        Wait-Until { ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a').ActiveConnections -ge 1 } -What 'load on the worker'
        kill -KILL $victim
        $wrk.WaitForExit(20000) | Should -BeTrue
        Set-Content $wrkOut $wrk.OutputText.Result
        $codes = 1..20 | ForEach-Object { Get-HttpStatus $Port 'a.itkt.test' '/page.txt' }
        $codes | Should -Be (@(200) * 20)
        $pool = (Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a'
        $pool.Crashes | Should -BeGreaterOrEqual 1
        $pool.WorkerPids | Should -Not -Contain $victim
    }

    It 'SIGHUP under load (a new connection per request) fails no request' {
        $wrkOut = Join-Path $Base 'wrk-hup.txt'
        $wrk = Start-Tool wrk @('-t2', '-c8', '-d4s', '-H', 'Connection: close', '-H', 'Host: a.itkt.test', "http://127.0.0.1:$Port/page.txt") $wrkOut
        $accepted = { ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a').Connections }
        $start = & $accepted
        Wait-Until { (& $accepted) -gt $start + 500 } -What 'load before the reload'
        Restart-ItkServer -ControlSocket $Sock | Out-Null
        Restart-ItkServer -ControlSocket $Sock | Out-Null
        $wrk.WaitForExit(30000) | Should -BeTrue
        Set-Content $wrkOut $wrk.OutputText.Result
        $report = Get-Content -Raw $wrkOut
        $report | Should -Match 'requests in'
        [int]([regex]::Match($report, '(\d+) requests in').Groups[1].Value) | Should -BeGreaterThan 100
        $report | Should -Not -Match 'Socket errors'
        $report | Should -Not -Match 'Non-2xx'
    }
}

Describe 'Status codes agree with real Apache + mpm-itk on the same vhost files' {
    BeforeAll {
        $script:Cases = @(
            @('index', 'a.itkt.test', '/', @()), @('file', 'a.itkt.test', '/index.html', @()), @('text', 'a.itkt.test', '/page.txt', @()),
            @('HEAD', 'a.itkt.test', '/page.txt', @('-I')), @('missing', 'a.itkt.test', '/missing.html', @()),
            @('dir without slash', 'a.itkt.test', '/sub', @()), @('dir index', 'a.itkt.test', '/sub/', @()),
            @('dir without index', 'a.itkt.test', '/empty/', @()), @('empty without slash', 'a.itkt.test', '/empty', @()),
            @('.htpasswd', 'a.itkt.test', '/.htpasswd', @()), @('.htaccess', 'a.itkt.test', '/.htaccess', @()),
            @('encoded .htaccess', 'a.itkt.test', '/%2ehtaccess', @()), @('EACCES file', 'a.itkt.test', '/secret-dir/data.txt', @()),
            @('EACCES dir', 'a.itkt.test', '/secret-dir/', @()), @('symlink to b', 'a.itkt.test', '/link-to-b.txt', @()),
            @('dotdot', 'a.itkt.test', '/../b/page.txt', @()), @('encoded dotdot', 'a.itkt.test', '/%2e%2e/b/page.txt', @()),
            @('dotdot inside', 'a.itkt.test', '/sub/../page.txt', @()), @('encoded slash', 'a.itkt.test', '/%2fetc%2fpasswd', @()),
            @('dotdot encoded slash', 'a.itkt.test', '/..%2fb', @()), @('file with slash', 'a.itkt.test', '/page.txt/', @()),
            @('file path info', 'a.itkt.test', '/page.txt/extra', @()), @('double slash', 'a.itkt.test', '//page.txt', @()),
            @('query', 'a.itkt.test', '/page.txt?x=1&y=2', @()), @('encoded letter', 'a.itkt.test', '/%70age.txt', @()),
            @('bad escape', 'a.itkt.test', '/%zz', @()), @('POST', 'a.itkt.test', '/page.txt', @('-X', 'POST', '-d', 'x=1')),
            @('PUT', 'a.itkt.test', '/page.txt', @('-X', 'PUT', '-d', 'x')), @('DELETE', 'a.itkt.test', '/page.txt', @('-X', 'DELETE')),
            @('OPTIONS', 'a.itkt.test', '/page.txt', @('-X', 'OPTIONS')), @('unknown method', 'a.itkt.test', '/page.txt', @('-X', 'FOO')),
            @('range', 'a.itkt.test', '/page.txt', @('-r', '0-3')), @('range past end', 'a.itkt.test', '/page.txt', @('-r', '999999-')),
            @('unknown host', 'nowhere.test', '/page.txt', @()), @('other tenant', 'b.itkt.test', '/page.txt', @()),
            @('alias', 'www.b.itkt.test', '/', @()), @('big file', 'b.itkt.test', '/big.bin', @()),
            @('index with slash', 'a.itkt.test', '/sub/index.html/', @())
        )
        function Get-Table {
            foreach ($c in $Cases) { [pscustomobject]@{ Case = $c[0]; Status = Get-HttpStatus $Port $c[1] $c[2] $c[3] } }
            # conditional GET with the server's own validator
            $etag = ((curl -sI -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/page.txt") -match '^etag:' -replace '^etag:\s*', '').Trim()
            [pscustomobject]@{ Case = 'If-None-Match'; Status = Get-HttpStatus $Port 'a.itkt.test' '/page.txt' @('-H', "If-None-Match: $etag") }
        }
        $script:ItkdTable = @(Get-Table)
    }

    It 'has at least 30 cases' { $ItkdTable.Count | Should -BeGreaterOrEqual 30 }

    It 'SIGTERM lets an in-flight slow download complete' {
        $out = Join-Path $Base 'slow-a.bin'
        $slow = Start-Tool curl @('-s', '--fail', '--limit-rate', '8M', '-H', 'Host: a.itkt.test', '-o', $out, "http://127.0.0.1:$Port/big.bin")
        Wait-Until { (Test-Path $out) -and (Get-Item $out).Length -gt 0 } -What 'the slow download to start'
        Stop-ItkServer -ControlSocket $Sock -Confirm:$false
        $slow.WaitForExit(30000) | Should -BeTrue
        if ($slow.ExitCode -ne 0) { Get-Content $LogFile -Tail 25 | Write-Host }
        $slow.ExitCode | Should -Be 0
        (Get-Item $out).Length | Should -Be 20MB
        Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'matches Apache for every case' {
        $conf = Join-Path $Base 'apache.conf'
        @"
$(Get-ApacheTestConfig $Base @('authz_core', 'mime', 'dir', 'autoindex'))
TypesConfig /etc/mime.types
User www-data
Group www-data
Listen 127.0.0.1:$Port
DirectoryIndex index.html
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Files ".ht*">
    Require all denied
</Files>
Include $Root/vhosts.d/*.conf
"@ | Set-Content $conf
        $env:APACHE_RUN_DIR = $Base; $env:APACHE_LOCK_DIR = $Base; $env:APACHE_LOG_DIR = $Base
        & /usr/sbin/apache2 -f $conf -k start
        $LASTEXITCODE | Should -Be 0
        try {
            Wait-Until { (Get-HttpStatus $Port 'a.itkt.test' '/page.txt') -eq 200 } -What 'Apache to answer' 
            $apacheTable = @(Get-Table)
        } finally {
            # never "kill 0" (the test's own process group) when Apache did not start
            if (Test-Path "$Base/apache.pid") {
                $apachePid = [int](Get-Content "$Base/apache.pid")
                kill -TERM $apachePid
                Wait-Process -Id $apachePid -Timeout 10 -ErrorAction SilentlyContinue
            }
        }
        $diff = for ($i = 0; $i -lt $ItkdTable.Count; $i++) {
            if ($ItkdTable[$i].Status -ne $apacheTable[$i].Status) { "$($ItkdTable[$i].Case): itkd $($ItkdTable[$i].Status), apache $($apacheTable[$i].Status)" }
        }
        $ItkdTable | ForEach-Object -Begin { $i = 0 } -Process { Write-Host ("{0,-22} itkd {1}  apache {2}" -f $_.Case, $_.Status, $apacheTable[$i++].Status) }
        $diff | Should -BeNullOrEmpty
    }
}

Describe 'Bad configuration stops start-up with one clear error' {
    BeforeAll {
        $script:BadRoot = Join-Path $Base 'bad'
        $script:BadSock = Join-Path $Base 'bad.sock'
        function Start-Bad([string] $VhostText, [string] $Main = '') {
            Remove-Item -Recurse -Force $BadRoot -ErrorAction SilentlyContinue
            New-Item -ItemType Directory "$BadRoot/vhosts.d" -Force | Out-Null
            "User www-data`nGroup www-data`nListen 127.0.0.1:18212`n$Main`nIncludeOptional $BadRoot/vhosts.d/*.conf" | Set-Content "$BadRoot/itkps.conf"
            $VhostText | Set-Content "$BadRoot/vhosts.d/bad.conf"
            try { Start-ItkServer -ConfigRoot $BadRoot -ControlSocket $BadSock -LogPath "$Base/bad.log" -TimeoutSeconds 20 -ErrorAction Stop; 'started' }
            catch { $_ }
        }
    }

    It 'refuses <Case>' -ForEach @(
        @{ Case = 'uid 0'; Vhost = "<VirtualHost 127.0.0.1:18212>`nServerName x.test`nDocumentRoot /tmp`nAssignUserID root root`n</VirtualHost>"; Main = ''; Pattern = 'bad\.conf:4: error: .*uid 0' }
        @{ Case = 'an unknown user'; Vhost = "<VirtualHost 127.0.0.1:18212>`nServerName x.test`nDocumentRoot /tmp`nAssignUserID itkt-nobody itkt-nobody`n</VirtualHost>"; Main = ''; Pattern = "bad\.conf:4: error: .*'itkt-nobody' does not exist" }
        @{ Case = 'ids outside LimitUIDRange'; Vhost = "<VirtualHost 127.0.0.1:18212>`nServerName x.test`nDocumentRoot /tmp`nAssignUserID itkt-a itkt-a`n</VirtualHost>"; Main = 'LimitUIDRange 60000 60100'; Pattern = 'bad\.conf:4: error: .*outside LimitUIDRange 60000-60100' }
        @{ Case = 'a missing DocumentRoot'; Vhost = "<VirtualHost 127.0.0.1:18212>`nServerName x.test`nDocumentRoot /nonexistent/itkps`nAssignUserID itkt-a itkt-a`n</VirtualHost>"; Main = ''; Pattern = "bad\.conf:3: error: .*DocumentRoot '/nonexistent/itkps' does not exist" }
    ) {
        $r = Start-Bad $Vhost $Main
        $r | Should -BeOfType System.Management.Automation.ErrorRecord
        $r.FullyQualifiedErrorId | Should -BeLike 'ServerStartFailed,*'
        $r.Exception.Message | Should -Match $Pattern
    }

    It 'refuses a port in use, naming the Listen line' {
        $blocker = [System.Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 18212)
        $blocker.Start()
        try {
            $r = Start-Bad "<VirtualHost 127.0.0.1:18212>`nServerName x.test`nDocumentRoot /tmp`nAssignUserID itkt-a itkt-a`n</VirtualHost>"
            $r.FullyQualifiedErrorId | Should -BeLike 'ServerStartFailed,*'
            $r.Exception.Message | Should -Match 'itkps\.conf:3: error: Listen 127\.0\.0\.1:18212'
        } finally { $blocker.Stop() }
    }

    It 'refuses the port a running itkd serves (no silent sharing through SO_REUSEPORT)' {
        $first = Join-Path $Base 'first'
        New-ItkVhost -ConfigRoot $first -Name 'a.itkt.test' -DocumentRoot "$Www/a" -Listen '127.0.0.1:18215' -User 'itkt-a'
        $running = Start-ItkServer -ConfigRoot $first -ControlSocket "$Base/first.sock" -LogPath "$Base/first.log" -PassThru
        try {
            $r = Start-Bad "<VirtualHost 127.0.0.1:18215>`nServerName x.test`nDocumentRoot /tmp`nAssignUserID itkt-a itkt-a`n</VirtualHost>" 'Listen 127.0.0.1:18215'
            $r.FullyQualifiedErrorId | Should -BeLike 'ServerStartFailed,*'
            $r.Exception.Message | Should -Match 'itkps\.conf:4: error: Listen 127\.0\.0\.1:18215: Address already in use'
        } finally {
            kill -TERM $running.Pid
            Wait-Process -Id $running.Pid -Timeout 30 -ErrorAction SilentlyContinue
        }
    }
}

Describe 'Pool life cycle (own server)' {
    BeforeAll {
        $script:P2 = 18213
        $script:Root2 = Join-Path $Base 'etc2'
        $script:Sock2 = Join-Path $Base 'itkd2.sock'
        New-ItkVhost -ConfigRoot $Root2 -Name 'a.itkt.test' -DocumentRoot "$Www/a" -Listen "127.0.0.1:$P2" -User 'itkt-a'
        $script:Server2 = Start-ItkServer -ConfigRoot $Root2 -ControlSocket $Sock2 -LogPath (Join-Path $Base 'itkd2.log') -WorkerIdleTimeoutSeconds 2 -PassThru
        function Get-Pool { (Get-ItkServer -ControlSocket $Sock2).Pools | Where-Object User -eq 'itkt-a' }
    }
    AfterAll {
        if ($Server2 -and (Get-Process -Id $Server2.Pid -ErrorAction SilentlyContinue)) { Stop-ItkServer -ControlSocket $Sock2 -Confirm:$false -Force }
    }

    It 'reaps an idle user''s pool and starts it again on the next request' {
        (Get-HttpStatus $P2 'a.itkt.test' '/page.txt') | Should -Be 200
        $first = (Get-Pool).WorkerPids
        $first | Should -HaveCount 1
        Wait-Until { (Get-Pool).Workers -eq 0 } -TimeoutSeconds 15 -What 'the idle pool to be reaped'
        Get-Process -Id $first[0] -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-HttpStatus $P2 'a.itkt.test' '/page.txt') | Should -Be 200
        (Get-Pool).WorkerPids | Should -Not -Be $first
    }

    It 'throttles a crash loop and shows it' {
        for ($i = 0; $i -lt 6 -and -not (Get-Pool).Throttled; $i++) {
            $null = Get-HttpStatus $P2 'a.itkt.test' '/page.txt'
            foreach ($w in (Get-Pool).WorkerPids) { kill -KILL $w }
            Wait-Until { (Get-Pool).Workers -eq 0 } -What 'the killed worker to be gone'
        }
        $null = Get-HttpStatus $P2 'a.itkt.test' '/page.txt'
        Wait-Until { (Get-Pool).Throttled } -What 'the pool to be throttled'
        (Get-Pool).Crashes | Should -BeGreaterOrEqual 5
        (Get-HttpStatus $P2 'a.itkt.test' '/page.txt') | Should -Be 503 -Because 'no worker is started while the pool is held back'
        Select-String -Path (Join-Path $Base 'itkd2.log') -Pattern 'E1007 CrashLoopThrottled' -Quiet | Should -BeTrue
    }
}

Describe 'A pool of several workers (own server)' {
    It 'starts -MinWorkers workers for a user, every one of them as that user, and serves through them' {
        $p3 = 18214
        $root3 = Join-Path $Base 'etc3'
        $sock3 = Join-Path $Base 'itkd3.sock'
        New-ItkVhost -ConfigRoot $root3 -Name 'a.itkt.test' -DocumentRoot "$Www/a" -Listen "127.0.0.1:$p3" -User 'itkt-a'
        $s3 = Start-ItkServer -ConfigRoot $root3 -ControlSocket $sock3 -LogPath (Join-Path $Base 'itkd3.log') -MinWorkers 2 -MaxWorkers 3 -PassThru
        try {
            (Get-HttpStatus $p3 'a.itkt.test' '/page.txt') | Should -Be 200
            $pool = { (Get-ItkServer -ControlSocket $sock3).Pools | Where-Object User -eq 'itkt-a' }
            Wait-Until { (& $pool).Workers -eq 2 } -What 'two workers in the pool'
            $uid = & id -u itkt-a
            foreach ($w in (& $pool).WorkerPids) {
                ((Get-Content "/proc/$w/status" | Where-Object { $_ -like 'Uid:*' }) -split '\s+')[1..4] | Should -Be @($uid, $uid, $uid, $uid)
            }
            $codes = 1..20 | ForEach-Object { Get-HttpStatus $p3 'a.itkt.test' '/page.txt' }
            $codes | Should -Be (@(200) * 20)
        } finally { Stop-ItkServer -ControlSocket $sock3 -Confirm:$false }
    }
}
