// SPDX-License-Identifier: Apache-2.0
// The contracts of `basalt loadtest --mode erc20|swap` and of `npm run bench:contracts` (issue #24).
// Compiled by `npm run contracts` into src/rpc/jsonrpc/loadtest-contracts.ts; a unit test compiles
// this file again and fails if the two differ.
pragma solidity ^0.8.24;

/// An EIP-20 token whose whole supply goes to its deployer.
contract LoadToken {
    string public constant name = "Basalt Load Token";
    string public constant symbol = "BLT";
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        totalSupply = supply;
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "LoadToken: allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    /// `value` to each of `to`, from the caller: funds many accounts in one transaction.
    function transferEach(address[] calldata to, uint256 value) external {
        for (uint256 i = 0; i < to.length; i++) _transfer(msg.sender, to[i], value);
    }

    function _transfer(address from, address to, uint256 value) private {
        require(to != address(0), "LoadToken: to the zero address");
        uint256 held = balanceOf[from];
        require(held >= value, "LoadToken: balance");
        unchecked {
            balanceOf[from] = held - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// A constant-product pool of two tokens with a 0.3% fee, as Uniswap v2's pair prices a swap: the
/// reserves are re-read from the token balances after each swap, with a time-weighted price
/// accumulator. Liquidity is added by anyone and never withdrawn (a load, not a market).
contract LoadPair {
    LoadToken public immutable token0;
    LoadToken public immutable token1;
    uint112 private reserve0;
    uint112 private reserve1;
    uint32 private blockTimestampLast;
    uint256 public price0CumulativeLast;
    uint256 public price1CumulativeLast;

    event Swap(address indexed sender, bool zeroForOne, uint256 amountIn, uint256 amountOut);
    event Sync(uint112 reserve0, uint112 reserve1);

    constructor(LoadToken a, LoadToken b) {
        require(address(a) != address(b), "LoadPair: identical tokens");
        token0 = a;
        token1 = b;
    }

    function getReserves() external view returns (uint112, uint112, uint32) {
        return (reserve0, reserve1, blockTimestampLast);
    }

    function addLiquidity(uint256 amount0, uint256 amount1) external {
        require(token0.transferFrom(msg.sender, address(this), amount0), "LoadPair: transfer0");
        require(token1.transferFrom(msg.sender, address(this), amount1), "LoadPair: transfer1");
        _update();
    }

    /// Sell `amountIn` of token0 (zeroForOne) or token1 for at least `minOut` of the other one.
    function swap(bool zeroForOne, uint256 amountIn, uint256 minOut) external returns (uint256 amountOut) {
        (LoadToken tokenIn, LoadToken tokenOut) = zeroForOne ? (token0, token1) : (token1, token0);
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        require(amountIn > 0 && reserveIn > 0 && reserveOut > 0, "LoadPair: no liquidity");
        require(tokenIn.transferFrom(msg.sender, address(this), amountIn), "LoadPair: transfer in");
        uint256 inWithFee = amountIn * 997;
        amountOut = (inWithFee * reserveOut) / (reserveIn * 1000 + inWithFee);
        require(amountOut > 0 && amountOut >= minOut, "LoadPair: output");
        require(tokenOut.transfer(msg.sender, amountOut), "LoadPair: transfer out");
        _update();
        emit Swap(msg.sender, zeroForOne, amountIn, amountOut);
    }

    function _update() private {
        uint256 balance0 = token0.balanceOf(address(this));
        uint256 balance1 = token1.balanceOf(address(this));
        require(balance0 <= type(uint112).max && balance1 <= type(uint112).max, "LoadPair: overflow");
        uint32 now32 = uint32(block.timestamp);
        unchecked {
            uint32 elapsed = now32 - blockTimestampLast;
            if (elapsed > 0 && reserve0 != 0 && reserve1 != 0) {
                price0CumulativeLast += ((uint256(reserve1) << 112) / reserve0) * elapsed;
                price1CumulativeLast += ((uint256(reserve0) << 112) / reserve1) * elapsed;
            }
        }
        reserve0 = uint112(balance0);
        reserve1 = uint112(balance1);
        blockTimestampLast = now32;
        emit Sync(reserve0, reserve1);
    }
}
