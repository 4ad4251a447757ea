-- Review signals per review listing and local day (definitions: _reviews__models.yml): the
-- day's reviews and rating distribution, and over the 7 days ending that day the review count
-- against what sales lead to expect, the rating against the 90 days before, the verified and
-- new-reviewer shares. One row per listing and day with reviews, up to the analysis date.
with reviews as (
    select *
    from {{ ref('int_reviews_matched') }}
    where review_date <= {{ analysis_date() }}
),

first_reviews as (
    -- a reviewer is new on their first review in the connection
    select review_key
    from reviews
    qualify row_number() over (
        partition by connection_name, reviewer_key order by reviewed_at, review_key
    ) = 1
),

listings as (
    select
        review_listing_id,
        any_value(connection_name) as connection_name,
        any_value(channel) as channel,
        any_value(storefront_id) as storefront_id,
        any_value(product_ref) as product_ref,
        any_value(product_id) as product_id,
        min(review_date) as first_review_date
    from reviews
    group by all
),

sales as (
    select * from {{ ref('int_review_listing_sales') }}
),

spine as (
    -- every day from the listing's first sale or review on, so the windows count every unit
    select
        listings.review_listing_id,
        cast(unnest(generate_series(
            least(listings.first_review_date, coalesce(first_sale.ordered_date, listings.first_review_date)),
            {{ analysis_date() }},
            interval 1 day
        )) as date) as review_date
    from listings
    left join (
        select review_listing_id, min(ordered_date) as ordered_date from sales group by all
    ) as first_sale on listings.review_listing_id = first_sale.review_listing_id
),

daily_reviews as (
    select
        reviews.review_listing_id,
        reviews.review_date,
        count(*) as review_count,
        count(*) filter (where rating = 1) as rating_1_count,
        count(*) filter (where rating = 2) as rating_2_count,
        count(*) filter (where rating = 3) as rating_3_count,
        count(*) filter (where rating = 4) as rating_4_count,
        count(*) filter (where rating = 5) as rating_5_count,
        sum(rating) as rating_sum,
        count(is_verified) as verification_known_count,
        count(*) filter (where is_verified) as verified_count,
        count(first_reviews.review_key) filter (where not coalesce(is_verified, false))
            as new_reviewer_count
    from reviews
    left join first_reviews on reviews.review_key = first_reviews.review_key
    group by all
),

filled as (
    select
        spine.review_listing_id,
        listings.connection_name,
        spine.review_date,
        coalesce(d.review_count, 0) as review_count,
        coalesce(d.rating_1_count, 0) as rating_1_count,
        coalesce(d.rating_2_count, 0) as rating_2_count,
        coalesce(d.rating_3_count, 0) as rating_3_count,
        coalesce(d.rating_4_count, 0) as rating_4_count,
        coalesce(d.rating_5_count, 0) as rating_5_count,
        coalesce(d.rating_sum, 0) as rating_sum,
        coalesce(d.verification_known_count, 0) as verification_known_count,
        coalesce(d.verified_count, 0) as verified_count,
        coalesce(d.new_reviewer_count, 0) as new_reviewer_count,
        coalesce(sales.units_sold, 0) as units_sold
    from spine
    inner join listings on spine.review_listing_id = listings.review_listing_id
    left join daily_reviews as d
        on spine.review_listing_id = d.review_listing_id and spine.review_date = d.review_date
    left join sales
        on spine.review_listing_id = sales.review_listing_id
        and spine.review_date = sales.ordered_date
),

connection_totals as (
    select connection_name, review_date, sum(review_count) as reviews, sum(units_sold) as units
    from filled
    group by connection_name, review_date
),

connection_daily as (
    -- the connection's reviews per unit sold over the 90 days before the day
    select
        connection_name,
        review_date,
        sum(reviews) over last_90 as connection_reviews_90d,
        sum(units) over last_90 as connection_units_90d
    from connection_totals
    window last_90 as (
        partition by connection_name order by review_date
        range between interval 90 day preceding and interval 1 day preceding
    )
),

windowed as (
    select
        filled.*,
        sum(review_count) over last_7 as reviews_7d,
        sum(rating_sum) over last_7 as rating_sum_7d,
        sum(verification_known_count) over last_7 as verification_known_7d,
        sum(verified_count) over last_7 as verified_7d,
        sum(new_reviewer_count) over last_7 as new_reviewers_7d,
        sum(review_count) over prior_90 as reviews_prior_90d,
        sum(rating_sum) over prior_90 as rating_sum_prior_90d,
        sum(units_sold) over sales_30 as units_sold_30d
    from filled
    window
        last_7 as (partition by review_listing_id order by review_date rows between 6 preceding and current row),
        prior_90 as (partition by review_listing_id order by review_date rows between 96 preceding and 7 preceding),
        sales_30 as (partition by review_listing_id order by review_date rows between 30 preceding and 1 preceding)
),

expected as (
    select
        windowed.*,
        cast(coalesce(windowed.units_sold_30d, 0) as double) * 7 / 30
        * c.connection_reviews_90d / nullif(c.connection_units_90d, 0) as expected_7d
    from windowed
    left join connection_daily as c
        on windowed.connection_name = c.connection_name and windowed.review_date = c.review_date
)

select
    w.review_listing_id || ':' || strftime(w.review_date, '%Y-%m-%d') as review_daily_id,
    w.review_listing_id,
    listings.connection_name,
    listings.channel,
    listings.storefront_id,
    listings.product_ref,
    listings.product_id,
    w.review_date,
    cast(w.review_count as bigint) as review_count,
    cast(w.rating_1_count as bigint) as rating_1_count,
    cast(w.rating_2_count as bigint) as rating_2_count,
    cast(w.rating_3_count as bigint) as rating_3_count,
    cast(w.rating_4_count as bigint) as rating_4_count,
    cast(w.rating_5_count as bigint) as rating_5_count,
    cast(round(w.rating_sum / w.review_count, 4) as double) as avg_rating,
    cast(w.verified_count as bigint) as verified_count,
    cast(w.new_reviewer_count as bigint) as new_reviewer_count,
    cast(w.reviews_7d as bigint) as reviews_7d,
    cast(coalesce(w.units_sold_30d, 0) as bigint) as units_sold_30d,
    cast(round(w.expected_7d, 4) as double) as expected_reviews_7d,
    cast(round(w.reviews_7d / nullif(w.expected_7d, 0), 4) as double) as review_velocity_ratio,
    cast(round(w.rating_sum_7d / w.reviews_7d, 4) as double) as avg_rating_7d,
    cast(round(w.rating_sum_prior_90d / nullif(w.reviews_prior_90d, 0), 4) as double)
        as avg_rating_prior_90d,
    cast(round(
        w.rating_sum_7d / w.reviews_7d - w.rating_sum_prior_90d / nullif(w.reviews_prior_90d, 0), 4
    ) as double) as rating_shift_7d,
    cast(round(w.verified_7d / nullif(w.verification_known_7d, 0), 4) as double)
        as share_verified_7d,
    cast(round(w.new_reviewers_7d / w.reviews_7d, 4) as double) as new_reviewer_share_7d
from expected as w
inner join listings on w.review_listing_id = listings.review_listing_id
where w.review_count > 0
